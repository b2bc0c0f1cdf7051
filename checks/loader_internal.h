/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Private to posture_checks: the release hooks the registry calls for loader_data. */

/* dlclose the plugin and close its fd (see loader.c for when the fd stays open). */
void posture_loader_so_release(void *data);
/* Close the checked executable's fd and free the descriptor the exec loader made. */
void posture_loader_exec_release(void *data);
