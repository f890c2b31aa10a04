# Test cases of the services.hosttune evaluation tests. `good` cases evaluate; their policy must
# equal expected/NAME.ini (or expected/INI.ini when the case sets `ini`; @FIXTURES@ stands for the
# fixtures directory) and every check must hold.
# `bad` cases must fail evaluation with `error` (a string, or a list of strings) in the message.
{
  lib,
  pkgs,
  fixtures,
  evalConfig, # modules -> config, with the module and the NixOS stubs
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
        ] (svc config).serviceConfig.ReadWritePaths)
        (check "tmpfiles" [
          "d /run/hosttune 0755 root root - -"
          "d /var/lib/hosttune 0755 root root - -"
          "d /srv/hosttune/snapshots 0755 root root - -"
          "d /var/lib/node-exporter-textfiles 0755 root root - -"
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
      name = "kvm-kept-by-user";
      ini = "minimal";
      modules = [
        enable
        {
          nix.settings.system-features = [
            "nixos-test"
            "kvm"
          ];
        }
      ];
      checks = config: [
        (check "the user's definition wins" [
          "nixos-test"
          "kvm"
        ] config.nix.settings.system-features)
        (check "a warning says kvm and nixos-test are still claimed" 1 (
          builtins.length (lib.filter (w: lib.hasInfix "still lists \"nixos-test\" and \"kvm\"" w) config.warnings)
        ))
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
        {
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
        }
      ];
      checks = config: [
        (check "extra-sandbox-paths" [ "/dev/net/tun?" ] config.nix.settings.extra-sandbox-paths)
        (check "kernel modules" [ "tun" ] config.boot.kernelModules)
      ];
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
  ];

  bad = {
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
      error = "not a size (2G, 512M, 10%, or a page count): hugepages-1G.pool = \"lots\"";
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
