# SPDX-License-Identifier: MIT
{
  description = "hosttune: readiness and tuning of Linux hosts for microVM test workloads";

  # Pinned, so the checks run against the nixpkgs the module's evaluation stand-ins were
  # transcribed for (nixos-module/tests/stub-nixos.nix, nixos-module/tests/nixpkgs/): a moving
  # nixos-unstable changed how NixOS defines nix.settings.system-features under the module once
  # already. The revision is in the URL rather than in a flake.lock: a lock needs the narHash of
  # the source, which cannot be computed without fetching all of nixpkgs. `nix flake lock` on a
  # machine with network access writes one for this same revision. Users' own flakes set
  # `inputs.hosttune.inputs.nixpkgs.follows = "nixpkgs"` and evaluate the module with theirs.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/2680ad0cfc17b68f4b56f5a7788c78040563105c";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
    in
    {
      overlays.default = final: _prev: { hosttune = final.callPackage ./package.nix { }; };

      packages = forAllSystems (
        _system: pkgs: rec {
          hosttune = pkgs.callPackage ./package.nix { };
          default = hosttune;
        }
      );

      # The module builds the package from the host's own nixpkgs (pkgs.callPackage
      # ./package.nix), or takes pkgs.hosttune when the overlay is applied.
      nixosModules.hosttune = ./nixos-module/default.nix;
      nixosModules.default = self.nixosModules.hosttune;

      checks = forAllSystems (
        system: pkgs:
        let
          hosttune = self.packages.${system}.hosttune;
        in
        {
          # Build plus the unit tests (checkPhase).
          package = hosttune;

          # The module evaluation tests of tests/integration/test-nixos-module.sh, here with the
          # real pkgs.formats, and every generated policy validated by the real package.
          module-eval = import ./nixos-module/tests/flake-check.nix {
            inherit lib pkgs hosttune;
            formatsPath = "${nixpkgs}/pkgs/pkgs-lib/formats.nix";
          };

          # The module inside a real NixOS evaluation: the unit file, the policy (validated at
          # build time) and nix.conf (checked by Nix's own checkConfig) as NixOS builds them.
          nixos-eval =
            let
              nixos = lib.nixosSystem {
                inherit system;
                modules = [
                  self.nixosModules.default
                  {
                    services.hosttune.enable = true;
                    services.hosttune.package = hosttune;
                    boot.loader.grub.enable = false;
                    fileSystems."/".device = "/dev/disk/by-label/nixos";
                    system.stateVersion = lib.trivial.release;
                  }
                ];
              };
              inherit (nixos) config;
            in
            pkgs.runCommand "hosttune-nixos-eval"
              {
                unit = "${config.systemd.units."hosttune.service".unit}/hosttune.service";
                policy = config.environment.etc."hosttune/policy.ini".source;
                nixConf = config.environment.etc."nix/nix.conf".source;
              }
              ''
                set -x
                grep -qx 'Type=notify-reload' "$unit"
                grep -q '^ExecReload=.*/bin/hosttune policy validate /etc/hosttune/policy.ini$' "$unit"
                grep -q '^X-Reload-Triggers=.*hosttune-policy.ini' "$unit"
                # NixOS writes a list as repeated keys; systemd joins them.
                # In any order, one per line or several to a line.
                test "$(grep '^CapabilityBoundingSet=' "$unit" | cut -d= -f2 | xargs -n1 | sort | xargs)" = \
                  "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_NET_ADMIN CAP_SETGID CAP_SETUID CAP_SYS_ADMIN"
                grep -qx 'NoNewPrivileges=true' "$unit"
                grep -qx 'ProtectHome=true' "$unit"
                grep -q '^Before=.*nix-daemon.service' "$unit"
                grep -qx 'include = default' "$policy"
                grep -qx '!include /run/hosttune/nix.conf' "$nixConf"
                ! grep -Eq '^system-features = .*(kvm|nixos-test)' "$nixConf"
                mkdir $out
                cp "$unit" "$policy" "$nixConf" $out/
              '';

          # Boots a VM with the module: the agent starts, `hosttune check` passes, a reload over
          # busctl and a `nixos-rebuild switch` keep the agent and its leases, `hosttune run`
          # holds a lease. Needs KVM (requiredSystemFeatures "kvm" via the test driver).
          vm-test = pkgs.testers.runNixOSTest (
            import ./nixos-module/tests/vm-test.nix {
              module = self.nixosModules.default;
              inherit hosttune;
            }
          );
        }
      );

      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.mkShell {
            inputsFrom = [ self.packages.${system}.hosttune ];
            packages = with pkgs; [
              cmocka
              clang-tools # clang-format, clang-tidy
              cppcheck
              gdb
              nix # nix-instantiate for the module tests
              python3
              btrfs-progs
              iproute2
            ];
            # tests/integration/test-nixos-module.sh finds nixpkgs' lib here.
            NIXPKGS_LIB = "${nixpkgs}/lib";
          };
        }
      );

      # nixfmt-tree formats the whole tree when `nix fmt` is run without arguments.
      formatter = forAllSystems (_system: pkgs: pkgs.nixfmt-tree or pkgs.nixfmt-rfc-style);
    };
}
