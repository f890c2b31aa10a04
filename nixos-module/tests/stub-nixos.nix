# The NixOS options services.hosttune writes to, declared with the types NixOS gives them
# (nixos/lib/systemd-unit-options.nix, nixos/modules/config/nix.nix, misc/assertions.nix,
# system/etc/etc.nix, ...), so lib.evalModules checks the module's definitions the way a real
# NixOS evaluation would, without the nixpkgs package set. Also the NixOS defaults the module
# must override (nix.settings.system-features with "kvm").
{ lib, ... }:
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

  # NixOS' checkService: Type and Restart must be values systemd knows.
  checkService =
    cfg:
    let
      oneOf =
        name: values:
        !(cfg ? ${name}) || lib.elem cfg.${name} values
        || throw "systemd.services: ${name} = ${toString cfg.${name}} is not one of ${toString values}";
    in
    oneOf "Type" [
      "exec"
      "simple"
      "forking"
      "oneshot"
      "dbus"
      "notify"
      "notify-reload"
      "idle"
    ]
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

  # nix.settings values (nixos/modules/config/nix.nix semanticConfType).
  confAtom = types.nullOr (
    types.oneOf [
      types.bool
      types.int
      types.float
      types.str
      types.path
      types.package
    ]
  );
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

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

    services.dbus.packages = mkOption {
      type = types.listOf types.path;
      default = [ ];
    };
    services.udev.extraRules = mkOption {
      type = types.lines;
      default = "";
    };

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

    nix.enable = mkOption {
      type = types.bool;
      default = true;
    };
    nix.extraOptions = mkOption {
      type = types.lines;
      default = "";
    };
    nix.settings = mkOption {
      default = { };
      type = types.submodule {
        freeformType = types.attrsOf (types.either confAtom (types.listOf confAtom));
        options = {
          system-features = mkOption { type = types.listOf types.str; };
          extra-sandbox-paths = mkOption {
            type = types.listOf types.str;
            default = [ ];
          };
          sandbox = mkOption {
            type = types.either types.bool (types.enum [ "relaxed" ]);
            default = true;
          };
        };
      };
    };

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

  # What nixos/modules/config/nix.nix defines for every NixOS system.
  config.nix.settings.system-features = lib.mkDefault [
    "nixos-test"
    "benchmark"
    "big-parallel"
    "kvm"
  ];
}
