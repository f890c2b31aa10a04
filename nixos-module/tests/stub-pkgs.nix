# SPDX-License-Identifier: MIT
# The part of the nixpkgs package set services.hosttune uses, for evaluation tests that have only
# nixpkgs' lib: pkgs.formats.ini (the real one when a nixpkgs checkout is at hand, else the same
# type rebuilt from lib), and derivation stand-ins whose store paths change with their content
# (so a changed policy gives a changed reload trigger, as it does in NixOS).
{
  lib,
  formatsPath ? null,
  packageDir ? null,
}:
let
  fakeDerivation =
    name: content:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" "${name}:${content}")}-${name}";
    };

  # pkgs/pkgs-lib/formats.nix `ini` (type only): INI atoms, lists joined by listToValue.
  iniType =
    {
      listsAsDuplicateKeys ? false,
      listToValue ? null,
      ...
    }:
    let
      inherit (lib) types;
      single =
        types.nullOr (
          types.oneOf [
            types.bool
            types.int
            types.float
            types.str
          ]
        )
        // {
          description = "INI atom (null, bool, int, float or string)";
        };
      atom =
        if listsAsDuplicateKeys then
          types.either single (types.listOf single)
        else if listToValue != null then
          types.either single (types.nonEmptyListOf single)
        else
          single;
      section = types.attrsOf atom // {
        description = "section of an INI file (attrs of ${atom.description})";
      };
    in
    {
      type = types.attrsOf section;
      lib.types.atom = atom;
    };

  realFormats =
    if formatsPath != null then
      import formatsPath {
        inherit lib;
        pkgs = {
          config = { };
        };
      }
    else
      null;
in
rec {
  formats.ini = if realFormats != null then realFormats.ini else iniType;
  formatsSource = if realFormats != null then formatsPath else "stub (tests/stub-pkgs.nix)";

  stdenv = {
    hostPlatform = {
      system = "x86_64-linux";
    };
    buildPlatform = {
      canExecute = _: true;
    };
  };

  writeText = name: text: fakeDerivation name text // { inherit text; };
  writeTextDir =
    path: text:
    fakeDerivation (baseNameOf path) text
    // {
      inherit path text;
    };

  runCommand =
    name: env: script:
    fakeDerivation name (builtins.toJSON env + script)
    // {
      inherit script;
      text = env.text or null;
    };

  hosttune =
    fakeDerivation "hosttune-0.1.0" "package"
    // lib.optionalAttrs (packageDir != null) { outPath = packageDir; };
}
