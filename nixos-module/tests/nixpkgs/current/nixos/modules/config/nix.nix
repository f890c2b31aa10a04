# SPDX-License-Identifier: MIT
# Stand-in for nixpkgs' nixos/modules/config/nix.nix at NixOS/nixpkgs
# 2680ad0cfc17b68f4b56f5a7788c78040563105c (lib 26.11pre, the revision flake.nix pins), reduced to
# what services.hosttune reads or writes: nix.extraOptions and nix.settings (the freeform
# semanticConfType, system-features, extra-sandbox-paths, sandbox), with upstream's types,
# defaults and priorities. It lies at the upstream path on purpose: the module tells nixpkgs' own
# definition of system-features from a user's by that path.
#
# The behaviour it models is the one nixpkgs PR 383052 (2025-02-18) introduced and NixOS 25.05
# and later have: the default list is the option's default *and* a definition at normal priority,
# so a user's `nix.settings.system-features = [ ... ]` is merged with it (not replacing it). (Read
# from a copy of the upstream file with that form; the pinned revision's own copy could not be
# read here, see ../../../../../stub-nixos.nix.)
# ../../../../mkdefault/nixos/modules/config/nix.nix is the older form.
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
    withDefault = true;
  };
in
{
  options.nix = nix.options;

  config = lib.mkIf cfg.enable {
    nix.settings.system-features = nix.defaultSystemFeatures;
  };
}
