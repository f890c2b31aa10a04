# SPDX-License-Identifier: MIT
# Evaluates services.hosttune with lib.evalModules (the module, tests/stub-nixos.nix and one test
# case) and reports what the runner compares: the generated policy, the checks of each case, and
# a nix.conf rendered the way nixos/modules/config/nix.nix renders it.
#
#   nix-instantiate --eval --strict --json eval.nix --arg lib 'import <lib>' -A good
#   nix-instantiate --eval --strict eval.nix --arg lib 'import <lib>' -A bad.NAME   (must fail)
{
  lib,
  formatsPath ? null,
  fixtures ? toString ./fixtures,
  # A directory laid out like the package ($out/bin, $out/sbin), for unit files that
  # systemd-analyze verify can check down to the executables.
  packageDir ? null,
}:
let
  pkgs = import ./stub-pkgs.nix { inherit lib formatsPath packageDir; };

  # nixpkgs: which stand-in of nixos/modules/config/nix.nix ("current": a plain definition of the
  # default system-features, as nixpkgs since PR 383052 has it; "mkdefault": NixOS 24.11 and
  # earlier; "optiondefault": unstable of early 2025); release: the NixOS release
  # (system.nixos.release), null for lib's own.
  evalConfigWith =
    {
      nixpkgs ? "current",
      release ? null,
    }:
    modules:
    (lib.evalModules {
      modules = [
        ./stub-nixos.nix
        (./nixpkgs + "/${nixpkgs}/nixos/modules/config/nix.nix")
        ../default.nix
        { _module.args.pkgs = pkgs; }
      ]
      ++ lib.optional (release != null) { _module.args.nixosRelease = release; }
      ++ modules;
    }).config;
  evalConfig = evalConfigWith { };
  evalCase = c: evalConfigWith { inherit (c) nixpkgs release; } c.modules;

  cases = import ./cases.nix {
    inherit
      lib
      pkgs
      fixtures
      evalConfig
      evalConfigWith
      ;
  };

  # What nixos/modules/system/activation/top-level.nix does before building a system: failed
  # assertions abort the evaluation with their messages.
  checkAssertions =
    config:
    let
      failed = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
    in
    if failed == [ ] then
      config
    else
      throw "\nFailed assertions:\n${lib.concatMapStrings (m: "- ${m}\n") failed}";

  # nix.conf as NixOS writes it: plain settings, then extra-* settings, then extraOptions.
  nixConf =
    config:
    let
      value =
        v:
        if v == null then
          ""
        else if lib.isBool v then
          lib.boolToString v
        else if lib.isList v then
          toString v
        else
          toString v;
      pairs = attrs: lib.concatStringsSep "\n" (lib.mapAttrsToList (k: v: "${k} = ${value v}") attrs);
      isExtra = k: lib.hasPrefix "extra-" k;
    in
    ''
      ${pairs (lib.filterAttrs (k: _: !isExtra k) config.nix.settings)}
      ${pairs (lib.filterAttrs (k: _: isExtra k) config.nix.settings)}
      ${config.nix.extraOptions}
    '';

  # Unit files as NixOS writes them (nixos/lib/systemd-lib.nix): dependency lists joined by
  # spaces, other lists as repeated keys, booleans as true/false.
  unitLines =
    attrs:
    lib.concatStrings (
      lib.concatLists (
        lib.mapAttrsToList (
          k: v: map (x: "${k}=${if lib.isBool x then lib.boolToString x else toString x}\n") (lib.toList v)
        ) attrs
      )
    );
  unitCommon =
    u:
    "[Unit]\n"
    + lib.optionalString (u.description != "") "Description=${u.description}\n"
    + unitLines (
      lib.filterAttrs (_: v: v != "") {
        Documentation = lib.concatStringsSep " " u.documentation;
        After = lib.concatStringsSep " " u.after;
        Before = lib.concatStringsSep " " u.before;
        Wants = lib.concatStringsSep " " u.wants;
        Requires = lib.concatStringsSep " " u.requires;
      }
      // u.unitConfig
    );
  serviceUnit =
    u:
    unitCommon u
    + lib.optionalString (u.reloadTriggers != [ ]) "X-Reload-Triggers=${toString u.reloadTriggers}\n"
    + "\n[Service]\n"
    + unitLines u.serviceConfig;
  mountUnit =
    m:
    unitCommon m
    + "\n[Mount]\n"
    + unitLines (
      {
        What = m.what;
        Where = m.where;
      }
      // lib.optionalAttrs (m.type != "") { Type = m.type; }
      // lib.optionalAttrs (m.options != "") { Options = m.options; }
      // m.mountConfig
    );

  withVariant =
    c:
    {
      nixpkgs = "current";
      release = null;
    }
    // c;

  runGood =
    c:
    let
      config = checkAssertions (evalCase c);
      checks = c.checks config;
    in
    {
      inherit (c) name nixpkgs;
      expectedIni = c.ini or c.name;
      ini = config.services.hosttune.policyText;
      nixConf = nixConf config;
      unit = serviceUnit config.systemd.services.hosttune;
      tmpfiles = config.systemd.tmpfiles.rules;
      # D-Bus policy files the module made (the package's own are not in the stand-in).
      dbusPolicies = map (p: {
        inherit (p) path text;
      }) (lib.filter (p: p ? text) config.services.dbus.packages);
      mounts = map (m: {
        inherit (m) where;
        text = mountUnit m;
      }) config.systemd.mounts;
      warnings = config.warnings;
      checks = map (k: {
        inherit (k) name;
        ok = k.expected == k.actual;
        expected = builtins.toJSON k.expected;
        actual = builtins.toJSON k.actual;
      }) checks;
    };
in
{
  # The policy an example module (a file: a snippet of the docs) generates.
  examplePolicy =
    { file }:
    (checkAssertions (evalConfig [
      { services.hosttune.enable = true; }
      file
    ])).services.hosttune.policyText;

  # The module's evaluation-time verdict on one key each: { section, key, value (INI text) } ->
  # the list of errors (empty when accepted), for comparison with `hosttune policy validate`.
  keyVerdicts =
    { samplesFile }:
    let
      hlib = import ../lib.nix { inherit lib; };
      table = builtins.fromJSON (builtins.readFile ../policy-keys.json);
    in
    map (
      s:
      s
      // {
        errors = hlib.settingsErrors table { ${s.section}.${s.key} = s.value; };
      }
    ) (builtins.fromJSON (builtins.readFile samplesFile));

  formats = pkgs.formatsSource;
  good = map runGood (map withVariant cases.good);
  bad = lib.mapAttrs (
    _: c:
    let
      config = checkAssertions (evalCase c);
    in
    # Force everything a system build would: the policy text, the units, nix.conf.
    builtins.deepSeq [
      config.services.hosttune.policyText
      config.systemd.services
      config.systemd.mounts
      config.boot.kernelParams
      (nixConf config)
    ] "evaluated without error"
  ) (lib.mapAttrs (_: withVariant) cases.bad);
  badExpected = lib.mapAttrs (_: c: c.error) cases.bad;
}
