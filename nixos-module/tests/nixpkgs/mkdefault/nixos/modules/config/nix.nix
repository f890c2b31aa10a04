# Stand-in for nixpkgs' nixos/modules/config/nix.nix as NixOS 24.11 and earlier have it, read at
# NixOS/nixpkgs 013635633ffe11f70df1d639f563f21c42c1f778, reduced to what services.hosttune reads
# or writes (see ../../../../current/nixos/modules/config/nix.nix, the form of the pinned
# revision). The one difference that matters: the default features are a `mkDefault` definition
# and the option has no default, so a user's own `nix.settings.system-features = [ ... ]`
# replaces the default list instead of adding to it. At the upstream path on purpose (the module
# tells nixpkgs' definition from a user's by it).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.nix;

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
in
{
  options.nix = {
    extraOptions = mkOption {
      type = types.lines;
      default = "";
    };
    settings = mkOption {
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
          system-features = mkOption {
            type = types.listOf types.str;
          };
        };
      };
    };
  };

  config = lib.mkIf cfg.enable {
    nix.settings.system-features = lib.mkDefault (
      [
        "nixos-test"
        "benchmark"
        "big-parallel"
        "kvm"
      ]
      ++ lib.optionals (pkgs.stdenv.hostPlatform ? gcc.arch) (
        [ "gccarch-${pkgs.stdenv.hostPlatform.gcc.arch}" ]
        ++ map (x: "gccarch-${x}") (
          lib.systems.architectures.inferiors.${pkgs.stdenv.hostPlatform.gcc.arch} or [ ]
        )
      )
    );
  };
}
