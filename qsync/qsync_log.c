/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The vfrelay authors
 */

/*
 * The logtype lives in its own object so that each unit test can link exactly the sources it
 * tests plus this, without dragging in the other qsync units.
 */

#include <vfrelay/log.h>

VFR_LOG_REGISTER();
