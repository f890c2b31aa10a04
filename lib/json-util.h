/* SPDX-License-Identifier: MIT */
/* Cleanup helper for json-c objects: `_cleanup_(json_object_putp) json_object *o = ...`. */
#pragma once

#include <json-c/json.h>

#include "lib/util.h"

/* json_object_put drops one reference (and frees at the last); json_object_putp does it for a
 * variable going out of scope, and does nothing for NULL. */
DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

/* json_tokener_freep: the same for a tokener. */
DEFINE_TRIVIAL_CLEANUP_FUNC(json_tokener *, json_tokener_free)
