# SPDX-License-Identifier: MIT
# Test cases of the services.hosttune evaluation tests. `good` cases evaluate; their policy must
# equal expected/NAME.ini (or expected/INI.ini when the case sets `ini`; @FIXTURES@ stands for the
# fixtures directory) and every check must hold.
# `bad` cases must fail evaluation with `error` (a string, or a list of strings) in the message.
{
  lib,
  pkgs,
  fixtures,
  evalConfig, # modules -> config, with the module and the NixOS stubs
  evalConfigWith, # { nixpkgs, release } -> modules -> config
}:
let
  pkg = pkgs.hosttune;
  enable = {
    services.hosttune.enable = true;
  };
  check = name: expected: actual: { inherit name expected actual; };
  # Text with every run of whitespace made one space, for comparing XML and the like.
  words = s: lib.concatStringsSep " " (lib.filter (w: builtins.isString w && w != "") (builtins.split "[[:space:]]+" s));
  svc = config: config.systemd.services.hosttune;
  etcPolicy = config: config.environment.etc."hosttune/policy.ini".source;

  # The unit as switch-to-configuration compares it: everything but the reload triggers.
  unitWithoutTriggers =
    config:
    removeAttrs (svc config) [
      "reloadTriggers"
    ];

  # The system of the container tests (test-nixos-agent-unit*.sh).
  containerModule = {
    services.hosttune = {
      profile = null;
      # A group of its own: the container test also checks the bus policy made for it.
      group = "ci-runners";
      metrics.textfileDir = "/var/lib/node-exporter-textfiles";
      settings = {
        readiness.require = [
          "tun"
          "taps=2"
        ];
        net.taps = 2;
        agent.reprobe-interval = "5s";
      };
    };
  };

  # Two systems that differ only in `settings`.
  switchBefore = evalConfig [
    enable
    { services.hosttune.settings.hugepages.pool = "1G"; }
  ];
  switchAfter = evalConfig [
    enable
    {
      services.hosttune.settings.hugepages.pool = "2G";
      services.hosttune.settings.readiness.require = [ "hugepages=2G" ];
    }
  ];
  # Nix's system-features, against every way nixpkgs has defined its default list
  # (tests/nixpkgs/*/nixos/modules/config/nix.nix: current, mkdefault for NixOS 24.11 and earlier,
  # optiondefault for early-2025 unstable): what the module leaves, and what it warns about.
  # In each case: nixpkgs variant -> expected features.
  featureCase =
    {
      name,
      modules ? [ ],
      expected,
      warning ? null,
      included ? true,
    }:
    map (nixpkgs: {
      name = "features-${name}-${nixpkgs}";
      ini = "minimal";
      inherit nixpkgs;
      modules = [ enable ] ++ modules;
      checks = config: [
        # Order does not matter to Nix; duplicates are dropped.
        (check "nix.settings.system-features" (lib.sort lib.lessThan expected.${nixpkgs}) (
          lib.sort lib.lessThan config.nix.settings.system-features
        ))
        (
          if warning == null then
            check "no warning" [ ] config.warnings
          else
            check "one warning naming ${warning}" 1 (
              builtins.length (lib.filter (w: lib.hasInfix warning w) config.warnings)
            )
        )
        (check "the agent's nix.conf is included" (
          if included then "!include /run/hosttune/nix.conf\n" else ""
        ) config.nix.extraOptions)
      ];
    }) (builtins.attrNames expected);
  userFile = "${toString ./cases.nix} (a user's module)";
  # A user's module (its own file name, so the warning can be seen to name it) listing features.
  byUser = features: [
    {
      _file = userFile;
      nix.settings.system-features = features;
    }
  ];
  featureCases = lib.concatMap featureCase [
    {
      # NixOS' list without kvm and nixos-test, whichever way nixpkgs defines it.
      name = "default";
      expected = {
        current = [
          "benchmark"
          "big-parallel"
        ];
        mkdefault = [
          "benchmark"
          "big-parallel"
        ];
        optiondefault = [
          "benchmark"
          "big-parallel"
        ];
      };
    }
    {
      # A user's own feature lands, as NixOS itself would take it: merged with the default list
      # by current nixpkgs, replacing it on NixOS 24.11 and earlier.
      name = "user-addition";
      modules = byUser [ "uid-range" ];
      expected = {
        current = [
          "benchmark"
          "big-parallel"
          "uid-range"
        ];
        mkdefault = [ "uid-range" ];
        optiondefault = [ "uid-range" ];
      };
    }
    {
      # A user who forces a list gets exactly that list (less kvm/nixos-test not written).
      name = "user-force";
      modules = byUser (
        lib.mkForce [
          "uid-range"
          "big-parallel"
        ]
      );
      expected = {
        current = [
          "uid-range"
          "big-parallel"
        ];
        mkdefault = [
          "uid-range"
          "big-parallel"
        ];
        optiondefault = [
          "uid-range"
          "big-parallel"
        ];
      };
    }
    {
      # kvm written by the user stays, and the warning names it and the user's file, not
      # nixos-test (which only nixpkgs lists, and which goes).
      name = "kvm-by-user";
      modules = byUser [ "kvm" ];
      expected = {
        current = [
          "benchmark"
          "big-parallel"
          "kvm"
        ];
        mkdefault = [ "kvm" ];
        optiondefault = [ "kvm" ];
      };
      warning = "nix.settings.system-features in ${userFile} lists \"kvm\", so Nix claims it even when /dev/kvm is unusable";
    }
    {
      name = "both-by-user";
      modules = byUser [
        "nixos-test"
        "kvm"
      ];
      expected = {
        current = [
          "nixos-test"
          "benchmark"
          "big-parallel"
          "kvm"
        ];
        mkdefault = [
          "nixos-test"
          "kvm"
        ];
        optiondefault = [
          "nixos-test"
          "kvm"
        ];
      };
      warning = "lists \"nixos-test\" and \"kvm\", so Nix claims them";
    }
    {
      # systemFeatures = false: NixOS' own list, untouched.
      name = "not-managed";
      modules = [ { services.hosttune.nixIntegration.systemFeatures = false; } ];
      included = false;
      expected = {
        current = [
          "nixos-test"
          "benchmark"
          "big-parallel"
          "kvm"
        ];
        mkdefault = [
          "nixos-test"
          "benchmark"
          "big-parallel"
          "kvm"
        ];
        optiondefault = [
          "nixos-test"
          "benchmark"
          "big-parallel"
          "kvm"
        ];
      };
    }
  ];
in
{
  good = [
    {
      name = "minimal";
      modules = [ enable ];
      checks = config: [
        (check "Type" "notify-reload" (svc config).serviceConfig.Type)
        (check "BusName" "org.hosttune.Agent1" (svc config).serviceConfig.BusName)
        (check "WatchdogSec" "60s" (svc config).serviceConfig.WatchdogSec)
        (check "ExecStart" "${pkg}/sbin/hosttuned --policy /etc/hosttune/policy.ini" (svc config).serviceConfig.ExecStart)
        (check "ExecReload (validation only; the SIGHUP reloads)" "${pkg}/bin/hosttune policy validate /etc/hosttune/policy.ini" (svc config).serviceConfig.ExecReload)
        (check "CapabilityBoundingSet" [
          "CAP_SYS_ADMIN"
          "CAP_NET_ADMIN"
          "CAP_DAC_OVERRIDE"
          "CAP_FOWNER"
          "CAP_CHOWN"
          "CAP_SETUID"
          "CAP_SETGID"
        ] (svc config).serviceConfig.CapabilityBoundingSet)
        (check "NoNewPrivileges" true (svc config).serviceConfig.NoNewPrivileges)
        (check "ProtectHome" true (svc config).serviceConfig.ProtectHome)
        (check "ProtectSystem" "strict" (svc config).serviceConfig.ProtectSystem)
        (check "ReadWritePaths" [
          "/run/hosttune"
          "/var/lib/hosttune"
          "/var/lib/hosttune/snapshots"
        ] (svc config).serviceConfig.ReadWritePaths)
        (check "DeviceAllow" [
          "char-misc rw"
          "block-zram rw"
        ] (svc config).serviceConfig.DeviceAllow)
        (check "no ProtectKernelTunables (the agent writes /proc/sys and /sys)" false (
          (svc config).serviceConfig ? ProtectKernelTunables
        ))
        (check "no PrivateNetwork (taps live in the host namespace)" false (
          (svc config).serviceConfig ? PrivateNetwork
        ))
        (check "wantedBy" [ "multi-user.target" ] (svc config).wantedBy)
        (check "before nix-daemon" [ "nix-daemon.service" ] (svc config).before)
        (check "RequiresMountsFor" [ "/var/lib/hosttune/snapshots" ] (svc config).unitConfig.RequiresMountsFor)
        (check "reloadTriggers = the policy file" [ (toString (etcPolicy config)) ] (
          map toString (svc config).reloadTriggers
        ))
        (check "restartIfChanged (a new package restarts)" true (svc config).restartIfChanged)
        (check "reloadIfChanged" false (svc config).reloadIfChanged)
        (check "policy file validated at build time" true (
          lib.hasInfix "hosttune policy validate" (etcPolicy config).script
        ))
        (check "policy file content" config.services.hosttune.policyText (etcPolicy config).text)
        (check "services.dbus.packages" [ (toString pkg) ] (map toString config.services.dbus.packages))
        (check "environment.systemPackages" [ (toString pkg) ] (
          map toString config.environment.systemPackages
        ))
        (check "lease group" true (config.users.groups ? hosttune))
        (check "tmpfiles" [
          "d /run/hosttune 0755 root root - -"
          "d /var/lib/hosttune 0755 root root - -"
          "d /var/lib/hosttune/snapshots 0755 root root - -"
        ] config.systemd.tmpfiles.rules)
        (check "nix.extraOptions" "!include /run/hosttune/nix.conf\n" config.nix.extraOptions)
        (check "system-features without the unconditional kvm and nixos-test" [
          "benchmark"
          "big-parallel"
        ] config.nix.settings.system-features)
        # The default profile requires tun and userfaultfd.
        (check "extra-sandbox-paths" [
          "/dev/net/tun?"
          "/dev/userfaultfd?"
        ] config.nix.settings.extra-sandbox-paths)
        (check "no udev rule" "" config.services.udev.extraRules)
        (check "no kernel parameters" [ ] config.boot.kernelParams)
        (check "no kernel modules" [ ] config.boot.kernelModules)
        (check "no mount units" [ ] config.systemd.mounts)
        (check "no microvm@ drop-in without microvm.nix" false (config.systemd.services ? "microvm@"))
        (check "warnings" [ ] config.warnings)
      ];
    }

    {
      name = "ci-builder";
      modules = [
        enable
        {
          services.hosttune = {
            hugepages.reserveAtBoot = true;
            kvm.worldAccessible = true;
            metrics.textfileDir = "/var/lib/node-exporter-textfiles";
            settings = {
              readiness.require = "kvm, hugepages=4G userfaultfd,taps=4";
              hugepages = {
                pool = "4G";
                max = "6G";
                reclaim = "compact";
                timeout = "60s";
                mount = "/dev/hugepages-hosttune";
                mode = "01770";
                group = "hosttune";
              };
              net = {
                taps = 4;
                bridge = "htbr0";
                multi-queue = true;
              };
              snapshots = {
                root = "/srv/hosttune/snapshots";
                slots = 4;
                nocow = true;
              };
              zram = {
                size = "25%";
                algorithm = "zstd";
                priority = 100;
              };
              sysctl."vm.swappiness" = 10;
              agent.revert-on-stop = false;
              agent.nfd-features-file = "/etc/kubernetes/node-feature-discovery/features.d/hosttune";
            };
          };
        }
      ];
      checks = config: [
        (check "kernel parameters" [
          "hugepagesz=2M"
          "hugepages=2048"
        ] config.boot.kernelParams)
        (check "udev rule" ''
          # services.hosttune.kvm.worldAccessible: Nix build users have no supplementary groups.
          KERNEL=="kvm", MODE="0666"
        '' config.services.udev.extraRules)
        (check "kernel modules" [
          "zram"
          "tun"
        ] config.boot.kernelModules)
        (check "hugetlbfs mount unit" [
          {
            what = "hugetlbfs";
            where = "/dev/hugepages-hosttune";
            type = "hugetlbfs";
            options = "pagesize=2M,mode=01770,gid=hosttune";
            wantedBy = [ "local-fs.target" ];
            before = [ "hosttune.service" ];
          }
        ] (map (m: { inherit (m) what where type options wantedBy before; }) config.systemd.mounts))
        (check "RequiresMountsFor" [
          "/srv/hosttune/snapshots"
          "/dev/hugepages-hosttune"
        ] (svc config).unitConfig.RequiresMountsFor)
        (check "ReadWritePaths" [
          "/run/hosttune"
          "/var/lib/hosttune"
          "/srv/hosttune/snapshots"
          "/var/lib/node-exporter-textfiles"
          "/etc/kubernetes/node-feature-discovery/features.d"
        ] (svc config).serviceConfig.ReadWritePaths)
        (check "tmpfiles" [
          "d /run/hosttune 0755 root root - -"
          "d /var/lib/hosttune 0755 root root - -"
          "d /srv/hosttune/snapshots 0755 root root - -"
          "d /var/lib/node-exporter-textfiles 0755 root root - -"
          "d /etc/kubernetes/node-feature-discovery/features.d 0755 root root - -"
        ] config.systemd.tmpfiles.rules)
        (check "extra-sandbox-paths" [
          "/dev/net/tun?"
          "/dev/userfaultfd?"
        ] config.nix.settings.extra-sandbox-paths)
        (check "warnings" [ ] config.warnings)
      ];
    }

    {
      name = "gigantic";
      modules = [
        enable
        {
          services.hosttune = {
            profile = null;
            hugepages.reserveAtBoot = true;
            settings = {
              readiness.require = [
                "hugepages=1G"
                "hugepages=4G:1G"
              ];
              hugepages = {
                size = "2M";
                pool = 512; # pages
                mount = ""; # no mount
              };
              "hugepages-1G".pool = "4G";
            };
          };
        }
      ];
      checks = config: [
        (check "kernel parameters, one pair per pool" [
          "hugepagesz=2M"
          "hugepages=512"
          "hugepagesz=1G"
          "hugepages=4"
        ] config.boot.kernelParams)
        # No profile, no taps, no tun: nothing for the sandbox.
        (check "extra-sandbox-paths" [ ] config.nix.settings.extra-sandbox-paths)
        (check "mount = \"\" is no mount" [ ] config.systemd.mounts)
        (check "no RequiresMountsFor for it" [ "/var/lib/hosttune/snapshots" ] (svc config).unitConfig.RequiresMountsFor)
      ];
    }

    {
      name = "extra-files";
      modules = [
        enable
        {
          services.hosttune = {
            extraPolicyFiles = [ "${fixtures}/site.ini" ];
            settings.policy.name = "builder-7";
            settings.memory.swappiness = 5;
          };
        }
      ];
      checks = config: [ ];
    }

    {
      name = "no-nix-integration";
      ini = "minimal";
      modules = [
        enable
        { services.hosttune.nixIntegration.enable = false; }
      ];
      checks = config: [
        (check "nix.extraOptions untouched" "" config.nix.extraOptions)
        (check "NixOS' system-features untouched" [
          "nixos-test"
          "benchmark"
          "big-parallel"
          "kvm"
        ] config.nix.settings.system-features)
        (check "extra-sandbox-paths untouched" [ ] config.nix.settings.extra-sandbox-paths)
        (check "not ordered before nix-daemon" [ ] (svc config).before)
      ];
    }

    {
      # Before NixOS 24.05, whose checkService does not accept notify-reload yet: Type = notify,
      # the reload through the agent's D-Bus Reload (which waits for the new policy's apply).
      name = "nixos-23.11";
      ini = "minimal";
      release = "23.11";
      modules = [ enable ];
      checks = config: [
        (check "Type" "notify" (svc config).serviceConfig.Type)
        (check "ExecReload (the D-Bus Reload, waited for)" "${pkg}/bin/hosttune reload" (svc config).serviceConfig.ExecReload)
        (check "BusName" "org.hosttune.Agent1" (svc config).serviceConfig.BusName)
      ];
    }
    {
      name = "nixos-24.05";
      ini = "minimal";
      release = "24.05";
      modules = [ enable ];
      checks = config: [
        (check "Type" "notify-reload" (svc config).serviceConfig.Type)
        (check "ExecReload (validation only; the SIGHUP reloads)" "${pkg}/bin/hosttune policy validate /etc/hosttune/policy.ini" (svc config).serviceConfig.ExecReload)
      ];
    }

    {
      # NixOS' own zram swap next to a policy that manages zram: they would fight over the device.
      name = "zram-twice";
      modules = [
        enable
        {
          services.hosttune.settings.zram.size = "25%";
          zramSwap.enable = true;
        }
      ];
      checks = config: [
        (check "a warning about zramSwap.enable" 1 (
          builtins.length (lib.filter (lib.hasInfix "zramSwap.enable is set too") config.warnings)
        ))
        (check "the zram module is loaded for the agent" [ "zram" ] config.boot.kernelModules)
      ];
    }

    {
      name = "microvm-host";
      ini = "minimal";
      modules = [
        enable
        {
          options.microvm.host.enable = lib.mkOption {
            type = lib.types.bool;
            default = true;
          };
        }
      ];
      checks = config: [
        (check "microvm@ after hosttune" [ "hosttune.service" ] config.systemd.services."microvm@".after)
        (check "microvm@ wants hosttune" [ "hosttune.service" ] config.systemd.services."microvm@".wants)
      ];
    }

    {
      # What the module reads from a shipped profile (taps, zram, requirements, pools, mount).
      name = "profile-microvm-ci";
      modules = [
        enable
        {
          services.hosttune = {
            profile = "microvm-ci";
            hugepages.reserveAtBoot = true;
            settings.hugepages.pool = "2G"; # the profile's is 10% of RAM
          };
        }
      ];
      checks = config: [
        # The profile keeps 8 taps and requires vhost-net and userfaultfd.
        (check "extra-sandbox-paths" [
          "/dev/net/tun?"
          "/dev/vhost-net?"
          "/dev/userfaultfd?"
        ] config.nix.settings.extra-sandbox-paths)
        (check "kernel modules for the profile's zram and taps" [
          "zram"
          "tun"
        ] config.boot.kernelModules)
        (check "kernel parameters for the pool set on top of the profile" [
          "hugepagesz=2M"
          "hugepages=1024"
        ] config.boot.kernelParams)
        (check "the profile's empty mount = is no mount" [ ] config.systemd.mounts)
      ];
    }

    {
      # An empty requirement list starts afresh: the default profile's tun and userfaultfd go,
      # and with them the devices the sandbox would have needed.
      name = "require-reset";
      modules = [
        enable
        { services.hosttune.settings.readiness.require = [ ]; }
      ];
      checks = config: [
        (check "extra-sandbox-paths" [ ] config.nix.settings.extra-sandbox-paths)
      ];
    }

    {
      # The policy tests/integration/test-nixos-agent-unit.sh runs the real agent with, in a
      # container: nothing in it touches the host kernel's global state (taps live in the
      # container's own network namespace).
      name = "container";
      modules = [
        enable
        containerModule
      ];
      checks = config: [
        (check "extra-sandbox-paths" [ "/dev/net/tun?" ] config.nix.settings.extra-sandbox-paths)
        (check "kernel modules" [ "tun" ] config.boot.kernelModules)
      ];
    }

    {
      # Builds may lease hugepages over the agent's socket: it goes into the sandbox.
      name = "build-leases";
      modules = [
        enable
        {
          services.hosttune.profile = null;
          services.hosttune.settings = {
            hugepages.pool = "1G";
            agent.build-hugepages-max = "512M";
          };
        }
      ];
      checks = config: [
        (check "extra-sandbox-paths" [ "/run/hosttune/lease.sock?" ] config.nix.settings.extra-sandbox-paths)
      ];
    }

    {
      # The same policy on NixOS 23.11: the unit test-nixos-agent-unit-notify.sh runs under
      # Debian 12's systemd 252 (Type = notify, the reload through `hosttune reload`).
      name = "container-23.11";
      ini = "container";
      release = "23.11";
      modules = [
        enable
        containerModule
      ];
      checks = config: [ (check "Type" "notify" (svc config).serviceConfig.Type) ];
    }

    {
      name = "custom-group";
      modules = [
        enable
        { services.hosttune.group = "ci-runners"; }
      ];
      checks = config: [
        (check "the group exists" true (config.users.groups ? ci-runners))
        (check "a bus policy for the group next to the package's" [
          (toString pkg)
          "share/dbus-1/system.d/org.hosttune.Agent1-ci-runners.conf"
        ] (map (p: p.path or (toString p)) config.services.dbus.packages))
        (check "the bus policy opens the agent's interface to the group" true (
          lib.hasInfix (words ''
            <policy group="ci-runners">
              <allow send_destination="org.hosttune.Agent1" send_interface="org.hosttune.Agent1"/>
            </policy>
          '') (words (lib.elemAt config.services.dbus.packages 1).text)
        ))
      ];
    }

    {
      name = "reload-on-switch";
      modules = [
        enable
        { services.hosttune.settings.hugepages.pool = "1G"; }
      ];
      checks = _: [
        (check "the unit is unchanged apart from its reload triggers" true (
          unitWithoutTriggers switchBefore == unitWithoutTriggers switchAfter
        ))
        (check "the reload trigger changed" true (
          map toString (svc switchBefore).reloadTriggers
          != map toString (svc switchAfter).reloadTriggers
        ))
        (check "the policy changed" true (
          switchBefore.services.hosttune.policyText != switchAfter.services.hosttune.policyText
        ))
      ];
    }
  ]
  ++ featureCases;

  bad = {
    # The stand-in of NixOS 23.11 rejects notify-reload as NixOS did, so the fallback is needed
    # (shown with a unit of its own: the module's falls back).
    notify-reload-on-23-11 = {
      release = "23.11";
      modules = [
        enable
        { systemd.services.other.serviceConfig.Type = "notify-reload"; }
      ];
      error = "Type = notify-reload is not one of";
    };
    unknown-requirement = {
      modules = [
        enable
        {
          services.hosttune.settings.readiness.require = [
            "kvm"
            "kvmm"
          ];
        }
      ];
      error = "services.hosttune.settings.readiness.require: unknown requirement 'kvmm' (known: kvm, hugepages=SIZE[:PAGESIZE]";
    };
    bad-requirement-size = {
      modules = [
        enable
        { services.hosttune.settings.readiness.require = "hugepages=2X"; }
      ];
      error = "bad size '2X' in 'hugepages=2X' (use 2G, 512M, 10%)";
    };
    requirement-percent = {
      modules = [
        enable
        { services.hosttune.settings.readiness.require = [ "hugepages=10%" ]; }
      ];
      error = "services.hosttune.settings.readiness.require: 'hugepages=10%': percentages are not allowed here (a policy is validated without knowing the host's RAM); write an absolute size such as hugepages=2G";
    };
    pool-not-a-size = {
      modules = [
        enable
        { services.hosttune.settings.hugepages.pool = "2 GB"; }
      ];
      error = [
        "services.hosttune.settings.hugepages.pool' is not of type"
        "size such as 2G, 512M or 10% (of RAM), or a number of pages"
        "\"2 GB\""
      ];
    };
    other-pool-not-a-size = {
      modules = [
        enable
        { services.hosttune.settings."hugepages-1G".pool = "lots"; }
      ];
      error = "services.hosttune.settings.hugepages-1G.pool = \"lots\": 'lots' is not a size (2G, 512M), a count of pages (1024), a percentage of RAM (25%) or none";
    };
    # Keys and values outside the typed options, checked against the C key table at evaluation.
    max-not-a-size = {
      modules = [
        enable
        { services.hosttune.settings.hugepages.max = "lots"; }
      ];
      error = "services.hosttune.settings.hugepages.max = \"lots\": 'lots' is not a size (2G, 512M), a count of pages (1024), a percentage of RAM (25%) or none";
    };
    unknown-section = {
      modules = [
        enable
        { services.hosttune.settings.bogus.key = 1; }
      ];
      error = "services.hosttune.settings.bogus.key = \"1\": unknown section [bogus] (known: policy, readiness, hugepages, hugepages-SIZE";
    };
    misspelt-key = {
      modules = [
        enable
        { services.hosttune.settings.net.tapz = 4; }
      ];
      error = "services.hosttune.settings.net.tapz = \"4\": unknown key in [net] (known: bridge, taps, tap-prefix, owner, multi-queue, vnet-hdr)";
    };
    bad-bool = {
      modules = [
        enable
        { services.hosttune.settings.snapshots.nocow = "perhaps"; }
      ];
      error = "services.hosttune.settings.snapshots.nocow = \"perhaps\": 'perhaps' is not a boolean (yes or no)";
    };
    bad-choice = {
      modules = [
        enable
        { services.hosttune.settings.memory.thp = "sometimes"; }
      ];
      error = "services.hosttune.settings.memory.thp = \"sometimes\": 'sometimes' is not one of always, madvise, never, keep";
    };
    int-out-of-range = {
      modules = [
        enable
        { services.hosttune.settings.memory.swappiness = 300; }
      ];
      error = "services.hosttune.settings.memory.swappiness = \"300\": '300' is not a number from 0 to 200, or keep";
    };
    bad-duration = {
      modules = [
        enable
        { services.hosttune.settings.agent.reprobe-interval = "2 days"; }
      ];
      error = "services.hosttune.settings.agent.reprobe-interval = \"2 days\": '2 days' is not a duration up to 86400s";
    };
    bad-page-size-section = {
      modules = [
        enable
        { services.hosttune.settings."hugepages-3M".pool = "1G"; }
      ];
      error = "services.hosttune.settings.hugepages-3M.pool = \"1G\": [hugepages-3M]: '3M' is not a hugepage size";
    };
    bad-sysctl-key = {
      modules = [
        enable
        { services.hosttune.settings.sysctl."fs.file-max" = 1000; }
      ];
      error = "services.hosttune.settings.sysctl.fs.file-max = \"1000\": only keys under vm., kernel. and net. may be set";
    };
    profile-not-shipped = {
      modules = [
        enable
        { services.hosttune.profile = "turbo"; }
      ];
      error = [
        "services.hosttune.profile' is not of type"
        "one of the shipped profiles (default"
        "\"turbo\""
      ];
    };
    taps-without-tun = {
      modules = [
        enable
        {
          services.hosttune.settings.net.taps = 4;
          services.hosttune.nixIntegration.sandboxPaths = [ "/dev/vhost-net?" ];
        }
      ];
      error = "the policy keeps 4 taps, but services.hosttune.nixIntegration.sandboxPaths lacks /dev/net/tun";
    };
    reserve-percent = {
      modules = [
        enable
        {
          services.hosttune.hugepages.reserveAtBoot = true;
          services.hosttune.settings.hugepages.pool = "10%";
        }
      ];
      error = "services.hosttune.hugepages.reserveAtBoot needs a hugepage pool of a fixed size (not a percentage of RAM), e.g. settings.hugepages.pool = \"8G\"; pools: [hugepages] pool = 10%.";
    };
    reserve-profile-percent = {
      modules = [
        enable
        {
          services.hosttune.profile = "microvm-ci";
          services.hosttune.hugepages.reserveAtBoot = true;
        }
      ];
      error = "pools: [hugepages] pool = 10%.";
    };
    reserve-without-pool = {
      modules = [
        enable
        { services.hosttune.hugepages.reserveAtBoot = true; }
      ];
      error = "reserveAtBoot needs a hugepage pool of a fixed size (not a percentage of RAM), e.g. settings.hugepages.pool = \"8G\"; pools: none.";
    };
    snapshot-root-relative = {
      modules = [
        enable
        { services.hosttune.settings.snapshots.root = "snapshots"; }
      ];
      error = [
        "services.hosttune.settings.snapshots.root' is not of type"
        "absolute path"
        "\"snapshots\""
      ];
    };
    snapshot-root-in-store = {
      modules = [
        enable
        { services.hosttune.settings.snapshots.root = "/nix/store/snapshots"; }
      ];
      error = "services.hosttune.settings.snapshots.root = /nix/store/snapshots: the Nix store is read-only.";
    };
    kvm-mode-conflict = {
      modules = [
        enable
        {
          services.hosttune.kvm.worldAccessible = true;
          services.hosttune.settings.kvm.mode = "0660";
        }
      ];
      error = "services.hosttune.kvm.worldAccessible sets /dev/kvm to 0666, but settings.kvm.mode = \"0660\" asks for another mode.";
    };
    line-break-in-value = {
      modules = [
        enable
        { services.hosttune.settings.policy.description = "two\nlines"; }
      ];
      error = "services.hosttune.settings: values cannot contain line breaks: policy.description.";
    };
    include-in-settings = {
      modules = [
        enable
        { services.hosttune.settings.policy.include = "microvm-ci"; }
      ];
      error = "services.hosttune.settings.policy.include: use services.hosttune.profile and services.hosttune.extraPolicyFiles to include policies.";
    };
  };
}
