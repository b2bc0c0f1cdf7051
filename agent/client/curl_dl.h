/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * libcurl, loaded when first needed (dlopen of libcurl.so.4) instead of at every start of
 * posturectl: libcurl drags in some 25 shared libraries (GnuTLS, Kerberos, LDAP, SSH, RTMP...)
 * whose relocation costs ~5 MB of RSS and CPU in every `posturectl check`, which never talks
 * to the verifier. Only the functions the client uses are resolved.
 *
 * References are counted: the last posture_curl_api_put() runs curl_global_cleanup() and
 * dlclose()s libcurl, which unloads it and the libraries only it needed (about 3.5 MB of
 * postured's idle RSS between cycles); the next get loads it again.
 */

#include <time.h>

#include <curl/curl.h>

struct posture_curl_api {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *h);
    CURLcode (*easy_setopt)(CURL *h, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    CURLHcode (*easy_header)(CURL *h,
                             const char *name,
                             size_t index,
                             unsigned int origin,
                             int request,
                             struct curl_header **hout);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
    time_t (*getdate)(const char *p, const time_t *unused);
};

/* Take a reference to the loaded and initialised API (loading it when it is not; thread-safe),
 * or NULL when libcurl.so.4, one of its symbols or curl_global_init() fails (then *ret_why,
 * when not NULL, says why: dlerror's text; no reference is taken). */
const struct posture_curl_api *posture_curl_api_get(const char **ret_why);
/* Drop a reference taken by posture_curl_api_get(); the last one unloads libcurl. */
void posture_curl_api_put(void);
