#!/bin/bash
# SPDX-License-Identifier: MIT
# hosttuned under a real systemd in a booted Debian container: the systemd of the suite's
# backports (254 on Debian 12: the installed unit is Type=notify-reload, reload by SIGHUP). The
# scenario is in agent-systemd-lib.sh.
export CT_SYSTEMD=backports
. "$(dirname "$0")/agent-systemd-lib.sh"
