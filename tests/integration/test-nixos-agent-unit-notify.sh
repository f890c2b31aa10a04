#!/bin/bash
# SPDX-License-Identifier: MIT
# test-nixos-agent-unit.sh with the unit the NixOS module writes for NixOS before 24.05 (case
# "container-23.11": Type=notify, ExecReload=hosttune reload, which NixOS accepts there), under
# the systemd of Debian 12 (252, which has no notify-reload): the agent starts, reloads in place
# once per `systemctl reload`, and a rejected policy fails the reload with file:line.
HT_MODULE_CASE=container-23.11 exec bash "$(dirname "$0")/test-nixos-agent-unit.sh"
