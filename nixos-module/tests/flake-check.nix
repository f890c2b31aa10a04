# SPDX-License-Identifier: MIT
# `nix flake check` form of the module evaluation tests (tests/integration/test-nixos-module.sh
# and test-nixos-module-policy.sh run the same cases on machines without nixpkgs): every check of
# every good case holds, every bad case fails to evaluate, and the generated policies equal
# expected/*.ini and pass `hosttune policy validate` of the real package.
{
  lib,
  pkgs,
  hosttune,
  formatsPath,
}:
let
  fixtures = "${./fixtures}";
  results = import ./eval.nix { inherit lib formatsPath fixtures; };

  failedChecks = lib.concatMap (
    c: map (k: "${c.name}: ${k.name}: expected ${k.expected}, got ${k.actual}") (lib.filter (k: !k.ok) c.checks)
  ) results.good;

  # The message of a bad case is checked by the shell test; here it must at least fail.
  evaluatedBadCases = lib.filter (n: (builtins.tryEval results.bad.${n}).success) (builtins.attrNames results.bad);

  policies = pkgs.linkFarm "hosttune-module-policies" (
    lib.concatMap (c: [
      {
        name = "${c.name}.ini";
        path = pkgs.writeText "${c.name}.ini" c.ini;
      }
      {
        name = "${c.name}.want";
        path = pkgs.writeText "${c.name}.want" (
          builtins.replaceStrings [ "@FIXTURES@" ] [ fixtures ] (builtins.readFile (./expected + "/${c.expectedIni}.ini"))
        );
      }
    ]) results.good
  );
in
if failedChecks != [ ] then
  throw "hosttune module checks failed:\n${lib.concatStringsSep "\n" failedChecks}"
else if evaluatedBadCases != [ ] then
  throw "hosttune module: bad cases evaluated without error: ${toString evaluatedBadCases}"
else
  pkgs.runCommand "hosttune-module-eval"
    {
      nativeBuildInputs = [
        hosttune
        pkgs.diffutils
      ];
      # The fixtures the extra-files case includes must be in the sandbox.
      inherit fixtures;
    }
    ''
      for ini in ${policies}/*.ini; do
        name=$(basename "$ini" .ini)
        diff -u "${policies}/$name.want" "$ini"
        hosttune policy validate "$ini"
        echo "ok - $name"
      done
      touch $out
    ''
