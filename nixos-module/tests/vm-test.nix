# SPDX-License-Identifier: MIT
# NixOS VM test (flake check `vm-test`, through pkgs.testers.runNixOSTest): a machine with
# services.hosttune boots, the agent reaches READY, `hosttune check` passes, the capability
# bounding set is the module's, Nix advertises kvm only if KVM really works in the VM, a Reload
# over busctl and a `switch-to-configuration` of changed settings reload the agent in place (same
# PID) while a lease is held, and `hosttune run` gets a lease of hugepages.
{
  module,
  hosttune,
}:
{
  name = "hosttune";

  nodes.machine =
    { lib, ... }:
    {
      imports = [ module ];

      virtualisation.memorySize = 1536;

      services.hosttune = {
        enable = true;
        package = hosttune;
        # No shipped profile: its `kvm` requirement would need nested virtualisation.
        profile = null;
        settings = {
          readiness.require = [
            "rng"
            "tun"
            "hugepages=32M"
            "taps=2"
          ];
          hugepages = {
            pool = "64M";
            max = "128M";
          };
          net.taps = 2;
          snapshots = {
            root = "/var/lib/hosttune/snapshots";
            slots = 2;
          };
        };
      };

      users.users.alice = {
        isNormalUser = true;
        extraGroups = [ "hosttune" ];
      };

      # The same system with a bigger pool: switching to it must reload, not restart.
      specialisation.bigger.configuration = {
        services.hosttune.settings.hugepages.pool = lib.mkForce "96M";
      };
    };

  testScript =
    { nodes, ... }:
    let
      bigger = "${nodes.machine.system.build.toplevel}/specialisation/bigger";
    in
    ''
      import json

      def prop(name):
          # busctl get-property prints e.g. "t 3" or "b true"
          out = machine.succeed(
              f"busctl get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 {name}"
          )
          return out.split(None, 1)[1].strip()

      def main_pid():
          return machine.succeed("systemctl show -p MainPID --value hosttune.service").strip()

      def lease_ids():
          # ListLeases() -> a(ssa{sv}): the first string of each entry is the lease id.
          out = machine.succeed(
              "busctl --json=short call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 ListLeases"
          )
          return sorted(entry[0] for entry in json.loads(out)["data"][0])

      def hugepages_total():
          return int(machine.succeed("awk '/^HugePages_Total:/ {print $2}' /proc/meminfo"))

      machine.wait_for_unit("hosttune.service")

      with subtest("the agent applied the policy and is ready"):
          machine.succeed("hosttune check")
          assert hugepages_total() == 32, f"pool of 64M = 32 pages, got {hugepages_total()}"
          machine.succeed("ip link show htap0", "ip link show htap1")
          ready = json.loads(machine.succeed("cat /run/hosttune/ready.json"))
          print(ready)
          assert prop("Ready") == "true"

      with subtest("hardening: the capability bounding set is the module's"):
          pid = main_pid()
          bnd = machine.succeed(f"awk '/^CapBnd:/ {{print $2}}' /proc/{pid}/status").strip()
          # CAP_CHOWN 0, CAP_DAC_OVERRIDE 1, CAP_FOWNER 3, CAP_SETGID 6, CAP_SETUID 7,
          # CAP_NET_ADMIN 12, CAP_SYS_ADMIN 21
          want = (1 << 0) | (1 << 1) | (1 << 3) | (1 << 6) | (1 << 7) | (1 << 12) | (1 << 21)
          assert int(bnd, 16) == want, f"CapBnd {bnd}, want {want:016x}"
          machine.succeed(f"grep -q '^NoNewPrivs:[[:space:]]*1' /proc/{pid}/status")

      with subtest("Nix advertises kvm and nixos-test only when KVM works here"):
          features = machine.succeed(
              "nix --extra-experimental-features nix-command config show system-features"
          ).split()
          kvm_ok = machine.succeed("hosttune check --require kvm >/dev/null && echo yes || echo no").strip() == "yes"
          assert ("kvm" in features) == kvm_ok, f"features {features}, kvm usable: {kvm_ok}"
          assert ("nixos-test" in features) == kvm_ok, f"features {features}, kvm usable: {kvm_ok}"
          assert "hugepages" in features, f"the pool is there but not advertised: {features}"
          machine.succeed("grep -q '^extra-sandbox-paths = .*/dev/net/tun?' /etc/nix/nix.conf")

      with subtest("Reload over busctl keeps the agent"):
          pid = main_pid()
          gen = int(prop("Generation"))
          out = machine.succeed(
              "busctl call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Reload"
          )
          assert out.split() == ["t", str(gen + 1)], out
          assert int(prop("Generation")) == gen + 1
          assert main_pid() == pid

      with subtest("a lease: hosttune run as a member of the lease group"):
          lease = machine.succeed(
              "su alice -c 'hosttune run --hugepages 16M -- printenv HOSTTUNE_LEASE'"
          ).strip()
          assert lease != "", "hosttune run exported no HOSTTUNE_LEASE"
          assert lease not in lease_ids(), "the lease outlived its command"

      with subtest("nixos-rebuild switch with changed settings reloads, and the held lease survives"):
          machine.succeed(
              "systemd-run --unit=lease-holder -p User=alice hosttune run --hugepages 16M -- sleep 600"
          )
          machine.wait_until_succeeds("hosttune lease list | grep -q .")
          leases_before = lease_ids()
          assert len(leases_before) == 1, leases_before
          pid = main_pid()
          gen = int(prop("Generation"))
          machine.succeed("${bigger}/bin/switch-to-configuration test")
          assert main_pid() == pid, "the agent was restarted instead of reloaded"
          machine.wait_until_succeeds(f"test $(busctl get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Generation | cut -d' ' -f2) -gt {gen}")
          machine.succeed("grep -q 'pool = 96M' /etc/hosttune/policy.ini")
          machine.wait_until_succeeds("test $(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo) -eq 48")
          assert lease_ids() == leases_before, "the lease did not survive the switch"
          machine.succeed("systemctl stop lease-holder")
    '';
}
