/* SPDX-License-Identifier: MIT */
/* Cleanup helpers for libnl objects: `_cleanup_(nl_socket_freep) struct nl_sock *sk = ...`. */
#pragma once

#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "lib/util.h"

/* Each frees (or drops its reference to) the object of a variable going out of scope; NULL is
 * left alone. */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, nl_socket_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put)
