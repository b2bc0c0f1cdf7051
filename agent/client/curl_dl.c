/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl loaded on first use; see curl_dl.h. */

#include "curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define LIBCURL_SONAME "libcurl.so.4"

static struct posture_curl_api api;
static void *handle;
static unsigned users;
static char why[256];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* dlsym's void * to a function pointer, through memcpy (ISO C has no direct conversion). */
static int sym(void *h, const char *name, void *fnptr, size_t size)
{
    void *p = dlsym(h, name);

    if (!p) {
        (void) snprintf(why, sizeof(why), "%s: no symbol %s", LIBCURL_SONAME, name);
        return -1;
    }
    memcpy(fnptr, &p, size);
    return 0;
}

#define SYM(h, name, field) sym((h), (name), &api.field, sizeof(api.field))

static int load(void)
{
    void *h = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);

    if (!h) {
        const char *e = dlerror();
        (void) snprintf(why, sizeof(why), "%s", e ? e : LIBCURL_SONAME ": cannot be loaded");
        return -1;
    }
    if (SYM(h, "curl_global_init", global_init) < 0 ||
        SYM(h, "curl_global_cleanup", global_cleanup) < 0 ||
        SYM(h, "curl_easy_init", easy_init) < 0 || SYM(h, "curl_easy_cleanup", easy_cleanup) < 0 ||
        SYM(h, "curl_easy_setopt", easy_setopt) < 0 ||
        SYM(h, "curl_easy_perform", easy_perform) < 0 ||
        SYM(h, "curl_easy_getinfo", easy_getinfo) < 0 ||
        SYM(h, "curl_easy_strerror", easy_strerror) < 0 ||
        SYM(h, "curl_easy_header", easy_header) < 0 ||
        SYM(h, "curl_slist_append", slist_append) < 0 ||
        SYM(h, "curl_slist_free_all", slist_free_all) < 0 || SYM(h, "curl_getdate", getdate) < 0) {
        (void) dlclose(h);
        return -1;
    }
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        (void) snprintf(why, sizeof(why), "curl_global_init() failed");
        (void) dlclose(h);
        return -1;
    }
    handle = h;
    return 0;
}

const struct posture_curl_api *posture_curl_api_get(const char **ret_why)
{
    const struct posture_curl_api *r = &api;

    (void) pthread_mutex_lock(&lock);
    if (users == 0 && load() < 0) {
        if (ret_why)
            *ret_why = why;
        r = NULL;
    } else
        users++;
    (void) pthread_mutex_unlock(&lock);
    return r;
}

void posture_curl_api_put(void)
{
    (void) pthread_mutex_lock(&lock);
    if (users > 0 && --users == 0) {
        api.global_cleanup();
        (void) dlclose(handle);
        handle = NULL;
    }
    (void) pthread_mutex_unlock(&lock);
}
