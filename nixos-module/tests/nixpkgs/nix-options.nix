# SPDX-License-Identifier: MIT
# The options of nixpkgs' nixos/modules/config/nix.nix that services.hosttune reads or writes,
# as both stand-ins (nixpkgs/current and nixpkgs/mkdefault, .../nixos/modules/config/nix.nix)
# declare them: nix.extraOptions and nix.settings (the freeform semanticConfType, sandbox,
# extra-sandbox-paths, system-features), and nixpkgs' default feature list. Between the two
# nixpkgs forms only how that list is defined differs (and whether the option has it as its
# default). Types as NixOS has them at the revision flake.nix pins.
{
  lib,
  pkgs,
  # Whether nix.settings.system-features has the list as its option default.
  withDefault,
}:
let
  inherit (lib) mkOption types;

  semanticConfType =
    let
      confAtom =
        types.nullOr (
          types.oneOf [
            types.bool
            types.int
            types.float
            types.str
            types.path
            types.package
          ]
        )
        // {
          description = "Nix config atom (null, bool, int, float, str, path or package)";
        };
    in
    types.attrsOf (types.either confAtom (types.listOf confAtom));

  defaultSystemFeatures = [
    "nixos-test"
    "benchmark"
    "big-parallel"
    "kvm"
  ]
  ++ lib.optionals (pkgs.stdenv.hostPlatform ? gcc.arch) (
    # a builder can run code for `gcc.arch` and inferior architectures
    [ "gccarch-${pkgs.stdenv.hostPlatform.gcc.arch}" ]
    ++ map (x: "gccarch-${x}") (
      lib.systems.architectures.inferiors.${pkgs.stdenv.hostPlatform.gcc.arch} or [ ]
    )
  );
in
{
  inherit defaultSystemFeatures;
  options.extraOptions = mkOption {
    type = types.lines;
    default = "";
  };
  options.settings = mkOption {
    default = { };
    type = types.submodule {
      freeformType = semanticConfType;
      options = {
        sandbox = mkOption {
          type = types.either types.bool (types.enum [ "relaxed" ]);
          default = true;
        };
        extra-sandbox-paths = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        system-features = mkOption (
          {
            type = types.listOf types.str;
          }
          // lib.optionalAttrs withDefault { default = defaultSystemFeatures; }
        );
      };
    };
  };
}
