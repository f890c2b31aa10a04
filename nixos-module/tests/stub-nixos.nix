# SPDX-License-Identifier: MIT
# The NixOS options services.hosttune writes to or reads, declared with the types NixOS gives them,
# so lib.evalModules checks the module's definitions the way a real NixOS evaluation would,
# without the nixpkgs package set. They stand for NixOS/nixpkgs
# 2680ad0cfc17b68f4b56f5a7788c78040563105c (lib 26.11pre, as the vendored lib the tests run with;
# the revision flake.nix pins); the upstream file of each option is named where it is declared
# below. That revision's files could not be read here one by one (nixpkgs is too large to fetch
# onto these machines), so each declaration was compared with the newest copy of its file that
# could be read; flake.nix's `nixos-eval` check evaluates the module in the real NixOS of that
# revision. nix.settings and nix.extraOptions are in nixpkgs/*/nixos/modules/config/nix.nix, one
# stand-in for each way nixpkgs has defined the default system-features (eval.nix picks one).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;

  # systemd unit options: lists from several definitions are concatenated, scalars must agree
  # (nixos/lib/systemd-unit-options.nix `unitOption`).
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.isList (lib.head defs').value then
        lib.concatMap (
          def:
          if lib.isList def.value then
            def.value
          else
            throw "The definitions for systemd unit options should be either all lists or all non-lists (${lib.showOption loc})"
        ) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  # NixOS' checkService (nixos/lib/systemd-lib.nix): Type and Restart must be values systemd knows.
  # Type = notify-reload is accepted from NixOS 24.05 on (nixpkgs PR 288821, 2024-02-14).
  checkService =
    cfg:
    let
      oneOf =
        name: values:
        !(cfg ? ${name}) || lib.elem cfg.${name} values
        || throw "systemd.services: ${name} = ${toString cfg.${name}} is not one of ${toString values}";
    in
    oneOf "Type" (
      [
      "exec"
      "simple"
      "forking"
      "oneshot"
      "dbus"
      "notify"
      "idle"
    ]
    ++ lib.optional (lib.versionAtLeast config.system.nixos.release "24.05") "notify-reload"
    )
    && oneOf "Restart" [
      "no"
      "on-success"
      "on-failure"
      "on-abnormal"
      "on-abort"
      "always"
    ];

  unitNames = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };

  commonUnit = {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      description = mkOption {
        type = types.singleLineStr;
        default = "";
      };
      documentation = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      wantedBy = unitNames;
      requiredBy = unitNames;
      requires = unitNames;
      wants = unitNames;
      after = unitNames;
      before = unitNames;
      bindsTo = unitNames;
      partOf = unitNames;
      conflicts = unitNames;
      unitConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };

  service = {
    imports = [ commonUnit ];
    options = {
      serviceConfig = mkOption {
        type = types.addCheck (types.attrsOf unitOption) checkService;
        default = { };
      };
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
        default = { };
      };
      path = mkOption {
        type = types.listOf (types.oneOf [ types.package types.str ]);
        default = [ ];
      };
      script = mkOption {
        type = types.lines;
        default = "";
      };
      restartTriggers = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      reloadTriggers = mkOption {
        type = types.listOf unitOption;
        default = [ ];
      };
      restartIfChanged = mkOption {
        type = types.bool;
        default = true;
      };
      reloadIfChanged = mkOption {
        type = types.bool;
        default = false;
      };
      stopIfChanged = mkOption {
        type = types.bool;
        default = true;
      };
    };
  };

  mount = {
    imports = [ commonUnit ];
    options = {
      what = mkOption { type = types.str; };
      where = mkOption { type = types.str; };
      type = mkOption {
        type = types.str;
        default = "";
      };
      options = mkOption {
        type = types.commas;
        default = "";
      };
      mountConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };

in
{
  options = {
    # nixos/modules/misc/assertions.nix
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    # nixos/modules/config/system-path.nix, nixos/modules/system/etc/etc.nix
    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };
    environment.etc = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              enable = mkOption {
                type = types.bool;
                default = true;
              };
              target = mkOption {
                type = types.str;
                default = name;
              };
              text = mkOption {
                type = types.nullOr types.lines;
                default = null;
              };
              source = mkOption { type = types.path; };
              mode = mkOption {
                type = types.str;
                default = "symlink";
              };
            };
          }
        )
      );
    };

    # nixos/modules/services/system/dbus.nix, nixos/modules/services/hardware/udev.nix
    services.dbus.packages = mkOption {
      type = types.listOf types.path;
      default = [ ];
    };
    services.udev.extraRules = mkOption {
      type = types.lines;
      default = "";
    };

    # nixos/modules/system/boot/kernel.nix
    boot.kernelParams = mkOption {
      type = types.listOf (
        types.strMatching ''([^"[:space:]]|"[^"]*")+''
        // {
          name = "kernelParam";
          description = "string, with spaces inside double quotes";
        }
      );
      default = [ ];
    };
    boot.kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    # nixos/modules/services/system/nix-daemon.nix
    nix.enable = mkOption {
      type = types.bool;
      default = true;
    };

    # nixos/modules/config/zram.nix: read, for a warning when both manage zram.
    zramSwap.enable = mkOption {
      type = types.bool;
      default = false;
    };

    # nixos/modules/misc/version.nix: the module picks the unit's Type by it.
    system.nixos.release = mkOption {
      readOnly = true;
      type = types.str;
      # eval.nix picks another release through _module.args (the option is read-only).
      default = config._module.args.nixosRelease or lib.trivial.release;
    };

    # nixos/modules/config/users-groups.nix
    users.groups = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              name = mkOption {
                type = types.str;
                default = name;
              };
              gid = mkOption {
                type = types.nullOr types.int;
                default = null;
              };
              members = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
            };
          }
        )
      );
    };

    # nixos/modules/system/boot/systemd.nix (unit options: nixos/lib/systemd-unit-options.nix,
    # checks: nixos/lib/systemd-lib.nix), nixos/modules/system/boot/systemd/tmpfiles.nix
    systemd.services = mkOption {
      type = types.attrsOf (types.submodule service);
      default = { };
    };
    systemd.mounts = mkOption {
      type = types.listOf (types.submodule mount);
      default = [ ];
    };
    systemd.tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
  };
}
