# SPDX-License-Identifier: MIT
# flake.nix and package.nix evaluated against a stand-in nixpkgs (the real lib, derivation
# stand-ins for packages): nothing is built, but every output's wiring is evaluated, which
# `nix-instantiate --parse` alone cannot catch (a misspelt argument, a wrong attribute path).
# What the stand-ins cannot show (the package really builds, the VM test really passes) is left to
# `nix flake check` on a machine with nixpkgs and KVM.
{ lib, formatsDir }:
let
  flake = import ../../flake.nix;
  stubs = import ./stub-pkgs.nix { inherit lib; };

  fake =
    name:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/00000000000000000000000000000000-${name}";
    };

  pkgsFor =
    system:
    let
      self = {
        inherit lib;
        stdenv = stubs.stdenv // {
          # mkDerivation returns its arguments, so the package's attributes can be inspected.
          mkDerivation = args: fake "${args.pname}-${args.version}" // { inherit args; };
          hostPlatform.system = system;
        };
        # callPackage with every argument a stand-in, like nixpkgs' auto-calling.
        callPackage =
          f: overrides:
          let
            fn = if builtins.isFunction f then f else import f;
            wanted = builtins.functionArgs fn;
            auto = lib.mapAttrs (n: _: self.${n} or (fake n)) (
              lib.filterAttrs (n: optional: !optional || self ? ${n}) wanted
            );
          in
          fn (auto // overrides);
        inherit (stubs) writeText runCommand formats;
        linkFarm = name: entries: fake name // { inherit entries; };
        mkShell = args: fake "shell" // { inherit args; };
        testers.runNixOSTest = test: fake "vm-test" // { inherit test; };
        nixfmt-rfc-style = fake "nixfmt";
        diffutils = fake "diffutils";
      }
      // lib.genAttrs [
        "pkg-config"
        "systemd"
        "btrfs-progs"
        "libnl"
        "inih"
        "json-c"
        "cmocka"
        "clang-tools"
        "cppcheck"
        "gdb"
        "nix"
        "python3"
        "iproute2"
      ] fake;
    in
    self;

  nixpkgs = {
    inherit lib;
    outPath = formatsDir; # holds pkgs/pkgs-lib/formats.nix
    legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] pkgsFor;
  };

  outputs = flake.outputs {
    inherit self nixpkgs;
  };
  self = outputs // {
    outPath = toString ../..;
  };

  pkg = outputs.packages.x86_64-linux.hosttune;
  vm = outputs.checks.x86_64-linux.vm-test.test;
  vmScript = vm.testScript {
    nodes.machine.system.build.toplevel = "/nix/store/00000000000000000000000000000000-system";
  };
in
{
  description = flake.description;
  inputs = flake.inputs.nixpkgs.url;
  systems = builtins.attrNames outputs.packages;
  packages = builtins.attrNames outputs.packages.x86_64-linux;
  checks = builtins.attrNames outputs.checks.x86_64-linux;
  nixosModules = builtins.attrNames outputs.nixosModules;
  overlay = builtins.attrNames (outputs.overlays.default (pkgsFor "x86_64-linux") { });
  devShell = outputs.devShells.x86_64-linux.default.args.NIXPKGS_LIB != "";
  formatter = outputs.formatter.x86_64-linux.name;
  package = {
    inherit (pkg.args) version makeFlags checkTarget doCheck;
    buildInputs = map (p: p.name) pkg.args.buildInputs;
    checkInputs = map (p: p.name) pkg.args.checkInputs;
  };
  module-eval = outputs.checks.x86_64-linux.module-eval.name;
  vm-test = {
    inherit (vm) name;
    node = builtins.isFunction vm.nodes.machine;
    scriptHasSwitch = lib.hasInfix "/specialisation/bigger/bin/switch-to-configuration test" vmScript;
  };
}
