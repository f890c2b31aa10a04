# SPDX-License-Identifier: MIT
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
  cfg = config.nix;
  nix = import ../../../../nix-options.nix {
    inherit lib pkgs;
    withDefault = false;
  };
in
{
  options.nix = nix.options;

  config = lib.mkIf cfg.enable {
    nix.settings.system-features = lib.mkDefault nix.defaultSystemFeatures;
  };
}
