# SPDX-License-Identifier: MIT
# The hosttune package: hosttune (CLI), hosttuned (agent), hosttune-bus (the CLI's D-Bus helper),
# man pages, the D-Bus policy, the shipped profiles and the systemd unit, built with the
# project's Makefile; the unit tests run in checkPhase.
{
  lib,
  stdenv,
  pkg-config,
  systemd,
  systemdLibs ? null,
  btrfs-progs,
  libnl,
  inih,
  json-c,
  cmocka,
}:
let
  # The Makefile is the one place the version is written.
  version = builtins.head (builtins.match ".*\nVERSION := ([^\n]+)\n.*" (builtins.readFile ./Makefile));
in
stdenv.mkDerivation {
  pname = "hosttune";
  inherit version;

  src = lib.cleanSourceWith {
    src = ./.;
    name = "hosttune-source";
    # Not the build trees of a developer's checkout.
    filter =
      path: type:
      !(lib.elem (baseNameOf path) [
        "build"
        "build-san"
        "build-fuzz"
      ])
      && lib.cleanSourceFilter path type;
  };

  postPatch = ''
    # embed-profiles.sh runs during the build, run-tests.sh in checkPhase: no /bin/bash here.
    patchShebangs scripts tests
  '';

  strictDeps = true;
  nativeBuildInputs = [ pkg-config ];
  buildInputs = [
    # libsystemd only (sd-bus, sd-event, sd-daemon); systemdLibs where nixpkgs has it.
    (if systemdLibs != null then systemdLibs else systemd)
    btrfs-progs # libbtrfsutil
    libnl # libnl-3.0, libnl-route-3.0
    inih
    json-c
  ];
  checkInputs = [ cmocka ];

  # The Makefile links `hosttune` static-pie when libc.a and static json-c, inih, libbtrfsutil and
  # libnl exist (Debian ships them). nixpkgs' builds of those libraries are shared only, so the
  # CLI is linked dynamically here; it loses about a millisecond of start-up, nothing else.
  makeFlags = [
    "PREFIX=${placeholder "out"}"
    "STATIC_LIGHT=no"
    "STATIC_CLI=no"
    # The installed unit is Type=notify-reload for systemd >= 253; the sandbox has no systemctl
    # to ask.
    "SYSTEMD_VERSION=${lib.getVersion systemd}"
  ];
  enableParallelBuilding = true;

  doCheck = true;
  # The unit tests (cmocka, fixture trees). The integration tests need a live kernel, root and
  # a D-Bus daemon: the NixOS VM test (nixos-module/tests/vm-test.nix) covers that ground.
  checkTarget = "unit";

  meta = {
    description = "Host readiness and tuning agent for microVM test workloads";
    longDescription = ''
      hosttune probes a Linux host (KVM, hugepages, zram, btrfs, taps, entropy, Nix settings),
      applies a tuning policy, hands out hugepages, snapshot directories and taps to test runs,
      and reports readiness over D-Bus, sd_notify, JSON, Prometheus metrics and nix.conf.
    '';
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "hosttune";
  };
}
