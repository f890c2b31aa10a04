# SPDX-License-Identifier: MIT
# Stand-in for nixpkgs' nixos/modules/config/nix.nix between nixpkgs PR 372878 (January 2025) and
# PR 383052 (February 2025), on nixos-unstable only: the default features were the option's
# default alone (priority 1500), with no definition in config, so any definition replaced them.
# Reduced to what services.hosttune reads or writes, like ../../../../current/nixos/modules/config/nix.nix
# (at the upstream path on purpose: the module tells nixpkgs' definition from a user's by it).
{
  lib,
  pkgs,
  ...
}:
{
  options.nix =
    (import ../../../../nix-options.nix {
      inherit lib pkgs;
      withDefault = true;
    }).options;
}
