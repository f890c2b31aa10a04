# SPDX-License-Identifier: MIT
# NixOS module `services.hosttune`: runs the hosttuned agent with a policy generated from Nix
# (RFC 42 `settings`), and wires its readiness into Nix, udev, the kernel command line and
# Prometheus. docs/nixos.md explains every option and the choices below.
{
  config,
  options,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    concatMap
    concatStringsSep
    elem
    filter
    hasPrefix
    literalExpression
    mkDefault
    mkIf
    mkMerge
    mkOption
    mkOverride
    optional
    optionalString
    types
    ;

  cfg = config.services.hosttune;
  hlib = import ./lib.nix { inherit lib; };

  # The shipped profiles are the ones in the source tree the package is built from.
  profilesDir = ../policies/profiles;
  shippedProfiles = map (lib.removeSuffix ".ini") (
    filter (lib.hasSuffix ".ini") (builtins.attrNames (builtins.readDir profilesDir))
  );

  runtimeDir = "/run/hosttune";
  stateDir = "/var/lib/hosttune";
  policyPath = "/etc/hosttune/policy.ini";

  # RFC 42: free-form INI, with the keys the module reads or checks typed below. Lists are
  # written as "a, b" (the policy loader's list syntax), not as repeated keys.
  settingsFormat = pkgs.formats.ini { listToValue = concatStringsSep ", "; };
  sectionType = settingsFormat.type.nestedTypes.elemType;

  # Type descriptions are what a bad definition's error message shows: say it plainly.
  sizeType =
    types.coercedTo types.ints.unsigned toString (types.strMatching hlib.sizePattern)
    // {
      description = "size such as 2G, 512M or 10% (of RAM), or a number of pages";
    };

  absolutePath =
    types.coercedTo types.path toString (types.strMatching "/[^\n]*")
    // {
      description = "absolute path";
    };

  profileType =
    types.enum shippedProfiles
    // {
      description = "one of the shipped profiles (${concatStringsSep ", " shippedProfiles})";
    };

  requireType = types.coercedTo types.str hlib.splitRequirements (types.listOf types.str);

  section =
    description: options:
    mkOption {
      type = types.submodule {
        freeformType = sectionType;
        inherit options;
      };
      default = { };
      inherit description;
    };

  nullOption =
    type: description: extra:
    mkOption (
      {
        type = types.nullOr type;
        default = null;
        inherit description;
      }
      // extra
    );

  # --- the effective policy, as far as the module must know it ----------------------------------
  # The profile's sections (read from the source tree at evaluation time, no build needed) with
  # `settings` on top, all values as the INI strings the agent will read.
  settingsSections = hlib.pruneSections cfg.settings;
  settingsStrings = lib.mapAttrs (_: lib.mapAttrs (_: hlib.iniValue)) settingsSections;
  profileSections =
    if cfg.profile == null then { } else hlib.profileSections profilesDir cfg.profile;
  effective = hlib.mergeSections profileSections settingsStrings;
  get = s: k: effective.${s}.${k} or null;
  getOr =
    s: k: d:
    effective.${s}.${k} or d;

  requirements = hlib.splitRequirements (getOr "readiness" "require" "");
  hasRequirement = name: lib.any (t: t == name || hasPrefix "${name}=" t) requirements;
  taps =
    let
      t = get "net" "taps";
    in
    if t != null && builtins.match "[0-9]+" t != null then hlib.digitsToInt t else 0;
  wantsTun = taps > 0 || hasRequirement "tun" || hasRequirement "taps";
  snapshotRoot = getOr "snapshots" "root" "${stateDir}/snapshots";
  zramManaged = get "zram" "size" != null;

  # Hugepage pools: [hugepages] (page size `size`, default 2M as in the loader) and every
  # [hugepages-SIZE] section.
  pools = lib.filter (p: p.pool != null) (
    lib.mapAttrsToList (
      name: keys:
      let
        sizeName =
          if name == "hugepages" then (keys.size or "2M") else lib.removePrefix "hugepages-" name;
      in
      {
        inherit name sizeName;
        pageSize = hlib.pageSizeBytes sizeName;
        pool = keys.pool or null;
      }
    ) (lib.filterAttrs (n: _: n == "hugepages" || hasPrefix "hugepages-" n) effective)
  );
  poolPages =
    p:
    let
      v = hlib.parseSize p.pool;
    in
    if v == null || v ? percent || p.pageSize == null then
      null
    else if v ? count then
      v.count
    else
      (v.bytes + p.pageSize - 1) / p.pageSize;
  # The kernel's spelling of a page size: hugepagesz=2M, hugepagesz=1G.
  kernelSize =
    bytes:
    let
      g = 1073741824;
      m = 1048576;
    in
    if lib.mod bytes g == 0 then
      "${toString (bytes / g)}G"
    else if lib.mod bytes m == 0 then
      "${toString (bytes / m)}M"
    else
      "${toString (bytes / 1024)}K";

  # "" is the policy's way to say "no mount" (the microvm-ci profile writes it).
  hugetlbfsMount =
    let
      m = get "hugepages" "mount";
    in
    if m == "" then null else m;

  # --- the policy file ----------------------------------------------------------------------------
  includes = optional (cfg.profile != null) cfg.profile ++ map (p: "${p}") cfg.extraPolicyFiles;
  policySections =
    settingsSections
    // {
      policy = lib.optionalAttrs (includes != [ ]) { include = includes; } // (settingsSections.policy or { });
    };
  policyText = hlib.toPolicyIni ''
    # Generated by the NixOS module services.hosttune; edit the NixOS configuration instead.
    # Includes are read first; every value below overrides what they set.
  '' policySections;

  policyFile =
    if cfg.validatePolicy then
      pkgs.runCommand "hosttune-policy.ini"
        {
          text = policyText;
          passAsFile = [ "text" ];
          nativeBuildInputs = [ cfg.package ];
          preferLocalBuild = true;
        }
        ''
          cp "$textPath" policy.ini
          # The agent refuses a policy it cannot validate; refuse it here, at build time, with the
          # same file:line: key: message.
          hosttune policy validate policy.ini
          cp policy.ini "$out"
        ''
    else
      pkgs.writeText "hosttune-policy.ini" policyText;

  # The package's bus policy opens Reload, Apply, Revert and leases to root and the group
  # "hosttune"; another lease group needs its own <policy group=...> (the agent checks the
  # caller's groups again against [agent] lease-group).
  dbusGroupPolicy = pkgs.writeTextDir "share/dbus-1/system.d/org.hosttune.Agent1-${cfg.group}.conf" ''
    <?xml version="1.0"?>
    <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
            "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
    <!-- services.hosttune.group: members may take leases, reload, apply and revert. -->
    <busconfig>
            <policy group="${cfg.group}">
                    <allow send_destination="org.hosttune.Agent1"
                           send_interface="org.hosttune.Agent1"/>
            </policy>
    </busconfig>
  '';

  capabilities = [
    # swapon/swapoff of the zram swap, deleting lease subvolumes (BTRFS_IOC_SNAP_DESTROY),
    # mounting hugetlbfs if a policy asks the agent itself to, kernel.* sysctls guarded by it.
    "CAP_SYS_ADMIN"
    # taps (TUNSETIFF, TUNSETPERSIST, TUNSETOWNER) and the bridge (rtnetlink).
    "CAP_NET_ADMIN"
    # removing what a lease holder left in a plain-directory (non-btrfs) snapshot slot.
    "CAP_DAC_OVERRIDE"
    # NOCOW (FS_IOC_SETFLAGS) and snapshots of templates the agent does not own.
    "CAP_FOWNER"
    # handing snapshot directories to the lease holder's uid.
    "CAP_CHOWN"
    # the KVM smoke guest for Nix builds runs in a child that becomes a build user.
    "CAP_SETUID"
    "CAP_SETGID"
  ]
  ++ cfg.extraCapabilities;

  readWritePaths = [
    runtimeDir
    stateDir
    snapshotRoot
  ]
  ++ optional (cfg.metrics.textfileDir != null) cfg.metrics.textfileDir
  ++ optional (nfdFeaturesDir != null) nfdFeaturesDir;

  # [agent] nfd-features-file: the agent stages the file beside its name and renames it (atomic
  # for nfd-worker's reads), so the unit must be able to write that directory.
  nfdFeaturesFile = (settingsSections.agent or { }).nfd-features-file or "";
  nfdFeaturesDir = if nfdFeaturesFile == "" then null else dirOf nfdFeaturesFile;

  # NixOS accepts Type = notify-reload from 24.05 on (nixpkgs PR 288821, 2024-02-14; its
  # checkService rejects the value before); older releases get Type = notify with a reload
  # command. nixos-unstable between the 24.05 version bump (November 2023) and that PR is not
  # told apart from 24.05.
  notifyReload = lib.versionAtLeast config.system.nixos.release "24.05";

  # --- Nix's own system-features -----------------------------------------------------------------
  # NixOS puts "kvm" and "nixos-test" into nix.settings.system-features unconditionally; the agent's
  # nix.conf adds both once a Nix build user's KVM smoke guest ran (a NixOS test needs both;
  # without KVM it would abort, or crawl under TCG). How nixpkgs defines its list has changed
  # (nixos/modules/config/nix.nix): up to NixOS 24.11 as `mkDefault [ ... ]`, which a user's own
  # list replaces; since nixpkgs PR 383052 (2025-02) as a plain definition, which a user's list is
  # merged with (and as the option's default). No single priority beats both without also beating
  # the user, so the module does not compete: it computes what NixOS would set without it (every
  # other definition merged by the module system's own rules, the option default included), takes
  # kvm and nixos-test out unless a definition outside nixpkgs' nix.nix names them, and sets the
  # result at a priority above mkForce (10). Whatever the user adds (or forces) is in that result.
  managedFeatures = [
    "kvm"
    "nixos-test"
  ];
  featuresLoc = [
    "nix"
    "settings"
    "system-features"
  ];
  # The file our own definition is recorded under (see featuresModule), so it can be left out.
  featuresFile = "${toString ./default.nix} (services.hosttune.nixIntegration.systemFeatures)";
  isNixpkgsNixModule = file: lib.hasSuffix "/nixos/modules/config/nix.nix" (toString file);
  featuresType = types.listOf types.str;
  # Definitions of nix.settings.system-features, from the definitions of nix.settings (a submodule:
  # its inner definitions are only visible through the outer ones, whose mkIf and mkMerge the
  # module system has already resolved; mkIf, mkDefault etc. on system-features itself are left
  # to mergeDefinitions below). Definitions written as functions (`nix.settings = { ... }: { }`)
  # are not looked into.
  otherFeatureDefs = concatMap (
    def:
    optional (builtins.isAttrs def.value && def.value ? system-features) {
      inherit (def) file;
      value = def.value.system-features;
    }
  ) (filter (def: toString def.file != featuresFile) (options.nix.settings.definitionsWithLocations or [ ]));
  featuresOption = (options.nix.settings.type.getSubOptions options.nix.settings.loc).system-features or { };
  featuresDefault = optional (featuresOption ? default) {
    file = toString (lib.head (featuresOption.declarations or [ "nixpkgs" ]));
    value = lib.mkOptionDefault featuresOption.default;
  };
  # What nix.settings.system-features would be without this module.
  featuresWithoutUs = (lib.modules.mergeDefinitions featuresLoc featuresType (featuresDefault ++ otherFeatureDefs)).mergedValue;
  # What definitions outside nixpkgs' nix.nix list (each on its own, so a mkDefault of the user's
  # still counts as written by the user).
  userFeatureDefs = filter (def: !isNixpkgsNixModule def.file) otherFeatureDefs;
  userFeatures = concatMap (def: (lib.modules.mergeDefinitions featuresLoc featuresType [ def ]).optionalValue.value or [ ]) userFeatureDefs;
  claimedFeatures = lib.unique (filter (f: elem f managedFeatures && elem f userFeatures) featuresWithoutUs);
  claimingFiles = lib.unique (
    map (def: toString def.file) (
      filter (
        def: lib.any (f: elem f claimedFeatures) ((lib.modules.mergeDefinitions featuresLoc featuresType [ def ]).optionalValue.value or [ ])
      ) userFeatureDefs
    )
  );
  systemFeatures = lib.unique (filter (f: !(elem f managedFeatures) || elem f claimedFeatures) featuresWithoutUs);
  featuresModule = {
    _file = featuresFile;
    config = mkIf (cfg.enable && cfg.nixIntegration.enable && cfg.nixIntegration.systemFeatures) {
      nix.settings.system-features = mkOverride 10 systemFeatures;
    };
  };

  defaultSandboxPaths =
    optional wantsTun "/dev/net/tun?"
    ++ optional (hasRequirement "vhost-net") "/dev/vhost-net?"
    ++ optional (hasRequirement "vhost-vsock") "/dev/vhost-vsock?"
    ++ optional (hasRequirement "userfaultfd") "/dev/userfaultfd?"
    ++ optional buildsLease "${runtimeDir}/lease.sock?";
  # Builds may take hugepage leases over the agent's socket ([agent] build-hugepages-max set and
  # a build users group): the socket goes into the sandbox, so `hosttune run` in a build finds it.
  buildsLease =
    let
      m = get "agent" "build-hugepages-max";
    in
    m != null && builtins.match "0+[KMGTkmgt]?(i?B)?" m == null && getOr "agent" "build-users-group" "nixbld" != "";
  sandboxHasTun = elem "/dev/net/tun" cfg.nixIntegration.sandboxPaths || elem "/dev/net/tun?" cfg.nixIntegration.sandboxPaths;

  # As the policy loader judges [readiness] require: the CLI's tokens, but no percentages (a
  # policy is validated without knowing the host's RAM).
  badRequirements = lib.filter (e: e != null) (
    map (
      t:
      if lib.hasInfix "%" t then
        "'${t}': percentages are not allowed here (a policy is validated without knowing the host's RAM); write an absolute size such as hugepages=2G"
      else
        hlib.requirementError t
    ) (lib.optionals (cfg.settings.readiness.require != null) cfg.settings.readiness.require)
  );
  # Every section, key and value of `settings` against the policy loader's own key table
  # (policy-keys.json: `hosttune policy keys --json`, checked in, and compared with the binary's by
  # tests/integration/test-nixos-module.sh), so a typo fails evaluation, cross builds included,
  # where validatePolicy cannot run the validator.
  policyKeys = builtins.fromJSON (builtins.readFile ./policy-keys.json);
  keyErrors = hlib.settingsErrors policyKeys settingsStrings;
in
{
  imports = [ featuresModule ];

  options.services.hosttune = {
    enable = lib.mkEnableOption "hosttune, the readiness agent for microVM test hosts (hosttuned)";

    package = mkOption {
      type = types.package;
      default = pkgs.hosttune or (pkgs.callPackage ../package.nix { });
      defaultText = literalExpression "pkgs.hosttune or (pkgs.callPackage ./package.nix { })";
      description = "The hosttune package (hosttuned, hosttune, D-Bus policy, profiles).";
    };

    profile = mkOption {
      type = types.nullOr profileType;
      default = "default";
      example = "microvm-ci";
      description = ''
        A shipped profile the policy includes (`[policy] include = NAME`); `settings` apply
        on top of it. `null` makes `settings` the whole policy.
      '';
    };

    extraPolicyFiles = mkOption {
      type = types.listOf types.path;
      default = [ ];
      example = literalExpression "[ ./hosttune-site.ini ]";
      description = ''
        Policy files included after the profile and before `settings` (later values win).
      '';
    };

    settings = mkOption {
      default = { };
      example = literalExpression ''
        {
          readiness.require = [ "kvm" "hugepages=8G" "taps=8" ];
          hugepages = { pool = "8G"; max = "12G"; reclaim = "compact"; };
          net = { taps = 8; bridge = "htbr0"; };
          snapshots = { root = "/var/lib/hosttune/snapshots"; slots = 4; };
          sysctl."vm.swappiness" = 10;
        }
      '';
      description = ''
        The policy, as INI sections and keys (see hosttune.ini(5) and docs/policy.md). Lists
        are written "a, b"; booleans yes/no. Generated into {file}`/etc/hosttune/policy.ini`;
        changing it reloads the agent instead of restarting it.
      '';
      type = types.submodule {
        freeformType = settingsFormat.type;
        options = {
          policy = section "[policy]: name and description of the generated policy." {
            name = mkOption {
              type = types.str;
              default = "nixos";
              description = "The policy's name (the agent's PolicyName).";
            };
            description = mkOption {
              type = types.str;
              default = "Generated by the NixOS module services.hosttune"
                + optionalString (cfg.profile != null) " (profile ${cfg.profile})";
              defaultText = literalExpression ''"Generated by the NixOS module services.hosttune (profile ''${profile})"'';
              description = "One line describing the policy.";
            };
          };
          readiness = section "[readiness]: what `hosttune check` and the agent require." {
            require = nullOption requireType "Requirement tokens (`kvm`, `hugepages=2G`, `taps=8`, ...)." {
              example = [
                "kvm"
                "hugepages=4G"
                "userfaultfd"
              ];
            };
          };
          hugepages = section "[hugepages]: the hugepage pool of the default page size." {
            pool = nullOption sizeType "Pages to reserve now: 8G, 10% (of RAM) or a page count." {
              example = "8G";
            };
          };
          snapshots = section "[snapshots]: snapshot root, slots and templates." {
            root = nullOption absolutePath "Directory of the snapshot slots (btrfs for O(1) snapshots)." {
              example = "/var/lib/hosttune/snapshots";
            };
          };
          net = section "[net]: tap pool and bridge." {
            taps = nullOption types.ints.unsigned "Taps kept in the pool." { example = 8; };
          };
          kvm = section "[kvm]: /dev/kvm." {
            mode = nullOption (types.strMatching "keep|0?[0-7]{3,4}") "Mode for /dev/kvm (\"0666\" lets Nix builds in; \"keep\" leaves it alone)." { };
          };
          agent = section "[agent]: the agent's own behaviour." {
            metrics-file = nullOption absolutePath "Prometheus textfile the agent writes." { };
            lease-group = nullOption types.str "Group allowed to take leases, reload, apply and revert." { };
          };
        };
      };
    };

    group = mkOption {
      type = types.strMatching "[A-Za-z_][A-Za-z0-9_.-]{0,30}" // {
        description = "group name";
      };
      default = "hosttune";
      description = ''
        Group created for lease holders: its members may take leases and call Reload, Apply and
        Revert (written to `[agent] lease-group`). Add CI runner users to it.
      '';
    };

    validatePolicy = mkOption {
      type = types.bool;
      default = pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform;
      defaultText = literalExpression "pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform";
      description = ''
        Run `hosttune policy validate` on the generated policy at build time, so a policy the
        agent would reject fails the system build instead of the reload.
      '';
    };

    nixIntegration = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Integrate with the local Nix daemon (features and sandbox paths below).";
      };
      systemFeatures = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Advertise only verified system features: `!include ${runtimeDir}/nix.conf` (written by
          the agent, naming `kvm nixos-test` only once Nix build users can use /dev/kvm, and
          `hugepages` once the policy's pools are there) and drop the `kvm` and `nixos-test`
          that NixOS otherwise claims unconditionally.
        '';
      };
      sandboxPaths = mkOption {
        type = types.listOf types.str;
        default = defaultSandboxPaths;
        defaultText = literalExpression ''[ "/dev/net/tun?" ] # when the policy has taps or requires tun; vhost-net, vhost-vsock, userfaultfd likewise; "/run/hosttune/lease.sock?" when settings.agent.build-hugepages-max is set'';
        description = ''
          Added to `nix.settings.extra-sandbox-paths` so VM tests inside the Nix sandbox can use
          the devices the policy provides, and the agent's lease socket when builds may lease
          hugepages (`settings.agent.build-hugepages-max`) ("?" = skip if absent).
        '';
      };
    };

    hugepages.reserveAtBoot = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Also reserve the policy's hugepage pools on the kernel command line
        (`hugepagesz=2M hugepages=N`): before memory fragments, the most reliable way to get a
        large pool, and the only way for 1G pages on most hosts.
      '';
    };

    kvm.worldAccessible = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Make /dev/kvm mode 0666 (a udev rule, and `[kvm] mode` for the agent): Nix build users
        lose their supplementary groups, so only a world-accessible /dev/kvm lets sandboxed VM
        tests use KVM; without it QEMU falls back to TCG only where asked to (the NixOS test
        driver's accel=kvm:tcg), and plain -accel kvm fails to start.
      '';
    };

    metrics.textfileDir = mkOption {
      type = types.nullOr absolutePath;
      default = null;
      example = "/var/lib/prometheus-node-exporter-text-files";
      description = ''
        Directory of node_exporter's textfile collector: the agent writes `hosttune.prom` there
        (`[agent] metrics-file`). Point `--collector.textfile.directory` at it.
      '';
    };

    extraCapabilities = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "CAP_SYS_PTRACE" ];
      description = ''
        Capabilities added to the agent's bounding set, for `[sysctl]` keys the kernel guards
        with more than CAP_SYS_ADMIN (kernel.yama.ptrace_scope: CAP_SYS_PTRACE;
        vm.mmap_min_addr: CAP_SYS_RAWIO).
      '';
    };

    policyText = mkOption {
      type = types.str;
      readOnly = true;
      internal = true;
      description = "The generated policy file (for tests and `nixos-option`).";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      services.hosttune.policyText = policyText;

      services.hosttune.settings.agent = {
        lease-group = mkDefault cfg.group;
        metrics-file = mkIf (cfg.metrics.textfileDir != null) (mkDefault "${cfg.metrics.textfileDir}/hosttune.prom");
      };

      assertions = [
        {
          assertion = badRequirements == [ ];
          message = "services.hosttune.settings.readiness.require: ${concatStringsSep "; " badRequirements}";
        }
        {
          assertion = keyErrors == [ ];
          message = concatStringsSep "\n- " (map (e: "services.hosttune.settings.${e}") keyErrors);
        }
        {
          assertion = !(settingsSections ? policy.include);
          message = "services.hosttune.settings.policy.include: use services.hosttune.profile and services.hosttune.extraPolicyFiles to include policies.";
        }
        {
          assertion = !(cfg.nixIntegration.enable && taps > 0 && !sandboxHasTun);
          message = "services.hosttune: the policy keeps ${toString taps} taps, but services.hosttune.nixIntegration.sandboxPaths lacks /dev/net/tun, so VM tests in the Nix sandbox cannot use them. Add \"/dev/net/tun?\" or set nixIntegration.enable = false.";
        }
        {
          assertion = !cfg.hugepages.reserveAtBoot || (pools != [ ] && lib.all (p: poolPages p != null) pools);
          message = "services.hosttune.hugepages.reserveAtBoot needs a hugepage pool of a fixed size (not a percentage of RAM), e.g. settings.hugepages.pool = \"8G\"; pools: ${
            if pools == [ ] then "none" else concatStringsSep ", " (map (p: "[${p.name}] pool = ${p.pool}") pools)
          }.";
        }
        {
          assertion = !(cfg.kvm.worldAccessible && cfg.settings.kvm.mode != null && cfg.settings.kvm.mode != "0666" && cfg.settings.kvm.mode != "666");
          message = "services.hosttune.kvm.worldAccessible sets /dev/kvm to 0666, but settings.kvm.mode = \"${toString cfg.settings.kvm.mode}\" asks for another mode.";
        }
        {
          assertion = hlib.unsafeIniValues settingsSections == [ ];
          message = "services.hosttune.settings: values cannot contain line breaks: ${concatStringsSep ", " (hlib.unsafeIniValues settingsSections)}.";
        }
        {
          assertion = !(hasPrefix "/nix/store" snapshotRoot);
          message = "services.hosttune.settings.snapshots.root = ${snapshotRoot}: the Nix store is read-only.";
        }
      ];

      warnings =
        optional (cfg.nixIntegration.enable && cfg.nixIntegration.systemFeatures && claimedFeatures != [ ])
          "services.hosttune.nixIntegration.systemFeatures: nix.settings.system-features in ${concatStringsSep ", " claimingFiles} lists ${concatStringsSep " and " (map (f: "\"${f}\"") claimedFeatures)}, so Nix claims ${if lib.length claimedFeatures == 1 then "it" else "them"} even when /dev/kvm is unusable; remove ${if lib.length claimedFeatures == 1 then "it" else "them"} and let ${runtimeDir}/nix.conf add ${if lib.length claimedFeatures == 1 then "it" else "them"} once verified."
        ++ optional (zramManaged && (config.zramSwap.enable or false))
          "services.hosttune: the policy manages zram ([zram] size) and zramSwap.enable is set too; they will fight over the zram device.";

      environment.systemPackages = [ cfg.package ];
      environment.etc."hosttune/policy.ini".source = policyFile;

      services.dbus.packages = [ cfg.package ] ++ optional (cfg.group != "hosttune") dbusGroupPolicy;

      users.groups.${cfg.group} = { };

      systemd.tmpfiles.rules = [
        # The runtime dir outlives the agent: the revert journal and the leases in it must survive
        # a crash or restart (RuntimeDirectory= would remove them on stop).
        "d ${runtimeDir} 0755 root root - -"
        "d ${stateDir} 0755 root root - -"
        "d ${snapshotRoot} 0755 root root - -"
      ]
      ++ optional (cfg.metrics.textfileDir != null) "d ${cfg.metrics.textfileDir} 0755 root root - -"
      ++ optional (nfdFeaturesDir != null) "d ${nfdFeaturesDir} 0755 root root - -";

      # Modules the agent needs but must not load itself (ProtectKernelModules= below).
      boot.kernelModules = optional zramManaged "zram" ++ optional (taps > 0) "tun";

      systemd.services.hosttune = {
        description = "hosttune agent: readiness of this host for microVM test workloads";
        documentation = [
          "man:hosttuned(8)"
          "man:hosttune.ini(5)"
        ];
        wantedBy = [ "multi-user.target" ];
        after = [ "systemd-tmpfiles-setup.service" ];
        # nix-daemon reads its features once, at start: let it see the verified ones.
        before = optional (cfg.nixIntegration.enable && cfg.nixIntegration.systemFeatures) "nix-daemon.service";
        # A changed policy (settings, profile, extra files) reloads the agent in place on
        # `nixos-rebuild switch`: leases and the journal stay. The unit itself does not mention
        # the policy's store path, so only a new package or new paths restart it.
        reloadTriggers = [ policyFile ];
        unitConfig.RequiresMountsFor = [ snapshotRoot ] ++ optional (hugetlbfsMount != null) hugetlbfsMount;
        serviceConfig = {
          Type = if notifyReload then "notify-reload" else "notify";
          ExecStart = "${cfg.package}/sbin/hosttuned --policy ${policyPath}";
          # notify-reload: the reload itself is the SIGHUP (the agent answers RELOADING=1 ...
          # READY=1, which systemd waits for). ExecReload= only validates the new policy, so a
          # bad one fails `systemctl reload` and shows file:line in the switch output: it must
          # not reload as well, since systemd runs it besides sending the signal (systemd 254:
          # both; later: ExecReload= first, then the signal), which would reload twice.
          # Before NixOS 24.05: `hosttune reload`, the agent's Reload over D-Bus, which returns
          # once the new policy is applied (so systemd waits for it too) and fails with the
          # rejection's file:line.
          ExecReload =
            if notifyReload then
              "${cfg.package}/bin/hosttune policy validate ${policyPath}"
            else
              "${cfg.package}/bin/hosttune reload";
          BusName = "org.hosttune.Agent1";
          Restart = "on-failure";
          # The first apply may grow a hugepage pool with compaction for up to [hugepages]
          # timeout; READY=1 comes after it.
          TimeoutStartSec = "5min";
          # The agent pings while it works (also during a long reservation); a hung agent is
          # restarted, and its journal lets the new one finish what the old one began.
          WatchdogSec = "60s";

          CapabilityBoundingSet = capabilities;
          NoNewPrivileges = true;
          ProtectSystem = "strict";
          ReadWritePaths = readWritePaths;
          ProtectHome = true;
          PrivateTmp = true;
          # Devices: every device a probe opens is a misc device (kvm, net/tun, vhost-net,
          # vhost-vsock, userfaultfd, hwrng); zram swap needs the zram block devices.
          DevicePolicy = "closed";
          DeviceAllow = [
            "char-misc rw"
            "block-zram rw"
          ];
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          # Enforced hugepage leases (docs/leases.md, "Enforcement"): lease cgroups live in the
          # agent's delegated cgroup (<unit>/leases/<id>, the agent itself in <unit>/agent),
          # which it must be able to write. Holders belong to the unit then: a restart ends them.
          Delegate = true;
          ProtectControlGroups = false;
          ProtectClock = true;
          ProtectHostname = true;
          RestrictNamespaces = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          LockPersonality = true;
          MemoryDenyWriteExecute = true;
          SystemCallArchitectures = "native";
          SystemCallFilter = [
            "@system-service"
            "@mount"
            "@swap"
          ];
          SystemCallErrorNumber = "EPERM";
          RestrictAddressFamilies = [
            "AF_UNIX"
            "AF_NETLINK"
            "AF_INET"
            "AF_INET6"
          ];
          IPAddressDeny = "any";
          UMask = "0022";
        };
      };
    }

    (mkIf (hugetlbfsMount != null) {
      # The agent runs in its own mount namespace (ProtectSystem=, ProtectHome=), where a mount
      # it made would be invisible to everyone else: the hugetlbfs mount is a mount unit instead,
      # ordered before the agent, which then finds it in place.
      systemd.mounts = [
        {
          what = "hugetlbfs";
          where = hugetlbfsMount;
          type = "hugetlbfs";
          options = concatStringsSep "," (
            [
              "pagesize=${getOr "hugepages" "size" "2M"}"
              "mode=${getOr "hugepages" "mode" "01770"}"
            ]
            # libmount turns a group name into gid= for the kernel.
            ++ optional (get "hugepages" "group" != null) "gid=${get "hugepages" "group"}"
          );
          wantedBy = [ "local-fs.target" ];
          before = [ "hosttune.service" ];
        }
      ];
    })

    (mkIf cfg.kvm.worldAccessible {
      services.hosttune.settings.kvm.mode = mkDefault "0666";
      services.udev.extraRules = ''
        # services.hosttune.kvm.worldAccessible: Nix build users have no supplementary groups.
        KERNEL=="kvm", MODE="0666"
      '';
    })

    (mkIf cfg.hugepages.reserveAtBoot {
      boot.kernelParams = concatMap (p: [
        "hugepagesz=${kernelSize p.pageSize}"
        "hugepages=${toString (poolPages p)}"
      ]) (lib.filter (p: poolPages p != null) pools);
    })

    (mkIf (cfg.nixIntegration.enable && cfg.nixIntegration.systemFeatures) {
      # A missing file is fine for !include: until the agent has verified anything, Nix
      # advertises none of the features it manages.
      nix.extraOptions = ''
        !include ${runtimeDir}/nix.conf
      '';
      # nix.settings.system-features: featuresModule above.
    })

    (mkIf (cfg.nixIntegration.enable && cfg.nixIntegration.sandboxPaths != [ ]) {
      nix.settings.extra-sandbox-paths = cfg.nixIntegration.sandboxPaths;
    })

    {
      # microvm.nix: its VMs start after the agent has reserved their hugepages and taps.
      systemd.services."microvm@" = mkIf (config.microvm.host.enable or false) {
        after = [ "hosttune.service" ];
        wants = [ "hosttune.service" ];
      };
    }
  ]);
}
