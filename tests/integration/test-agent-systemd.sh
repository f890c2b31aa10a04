#!/bin/bash
# SPDX-License-Identifier: MIT
# hosttuned under a real systemd in a booted Debian container: this machine's own Debian suite and its
# systemd (252 on Debian 12: the installed unit is Type=notify with a synchronous ExecReload=). The
# scenario is in agent-systemd-lib.sh.
export CT_SYSTEMD=
. "$(dirname "$0")/agent-systemd-lib.sh"
