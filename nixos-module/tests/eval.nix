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
}:
let
  pkgs = import ./stub-pkgs.nix { inherit lib formatsPath; };

  evalConfig =
    modules:
    (lib.evalModules {
      modules = [
        ./stub-nixos.nix
        ../default.nix
        { _module.args.pkgs = pkgs; }
      ]
      ++ modules;
    }).config;

  cases = import ./cases.nix {
    inherit
      lib
      pkgs
      fixtures
      evalConfig
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

  runGood =
    c:
    let
      config = checkAssertions (evalConfig c.modules);
      checks = c.checks config;
    in
    {
      inherit (c) name;
      expectedIni = c.ini or c.name;
      ini = config.services.hosttune.policyText;
      nixConf = nixConf config;
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
  formats = pkgs.formatsSource;
  good = map runGood cases.good;
  bad = lib.mapAttrs (
    _: c:
    let
      config = checkAssertions (evalConfig c.modules);
    in
    # Force everything a system build would: the policy text, the units, nix.conf.
    builtins.deepSeq [
      config.services.hosttune.policyText
      config.systemd.services
      config.systemd.mounts
      config.boot.kernelParams
      (nixConf config)
    ] "evaluated without error"
  ) cases.bad;
  badExpected = lib.mapAttrs (_: c: c.error) cases.bad;
}
