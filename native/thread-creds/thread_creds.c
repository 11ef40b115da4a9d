/*
 * Per-thread credentials for the delivery agents (local, virtual).
 *
 * Postfix's agents create mailbox files with the recipient's effective uid
 * and gid (set_eugid). A Node process is multi-threaded: glibc's seteuid()
 * and friends apply a change to every thread of the process, by signalling
 * each one, so a file operation that libuv's thread pool runs for another
 * delivery at that moment would run with the recipient's identity, and each
 * switch costs a signal round trip per thread. On Linux credentials belong
 * to a thread; the raw system calls change only the calling thread's. The
 * agents switch the main thread for a short synchronous window, and the
 * pool threads keep the agent's own identity throughout.
 *
 * Exports: setGroups(gids: number[]), setEgid(gid), setEuid(uid). Each
 * returns 0 or the errno value of the failed call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <node_api.h>

#define MAX_GROUPS 65536

static int arg_u32(napi_env env, napi_value v, uint32_t *out)
{
    return napi_get_value_uint32(env, v, out) == napi_ok;
}

static napi_value result(napi_env env, int err)
{
    napi_value v;
    napi_create_int32(env, err, &v);
    return v;
}

static napi_value set_groups(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1];
    uint32_t len = 0;
    bool is_array = false;

    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1
        || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array
        || napi_get_array_length(env, argv[0], &len) != napi_ok || len > MAX_GROUPS) {
        napi_throw_type_error(env, NULL, "setGroups: an array of group ids expected");
        return NULL;
    }
    gid_t *list = malloc(sizeof(gid_t) * (len ? len : 1));
    if (list == NULL)
        return result(env, ENOMEM);
    for (uint32_t i = 0; i < len; i++) {
        napi_value el;
        uint32_t g;
        if (napi_get_element(env, argv[0], i, &el) != napi_ok || !arg_u32(env, el, &g)) {
            free(list);
            napi_throw_type_error(env, NULL, "setGroups: group ids must be numbers");
            return NULL;
        }
        list[i] = (gid_t) g;
    }
    long r = syscall(SYS_setgroups, (size_t) len, list);
    int err = r < 0 ? errno : 0;
    free(list);
    return result(env, err);
}

static napi_value set_id(napi_env env, napi_callback_info info, long nr, const char *what)
{
    size_t argc = 1;
    napi_value argv[1];
    uint32_t id;

    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !arg_u32(env, argv[0], &id)) {
        napi_throw_type_error(env, NULL, what);
        return NULL;
    }
    /* Only the effective id changes; the real and saved ids stay root's. */
    long r = syscall(nr, (long) -1, (long) id, (long) -1);
    return result(env, r < 0 ? errno : 0);
}

static napi_value set_egid(napi_env env, napi_callback_info info)
{
    return set_id(env, info, SYS_setresgid, "setEgid: a group id expected");
}

static napi_value set_euid(napi_env env, napi_callback_info info)
{
    return set_id(env, info, SYS_setresuid, "setEuid: a user id expected");
}

static napi_value init(napi_env env, napi_value exports)
{
    napi_property_descriptor props[] = {
        { "setGroups", NULL, set_groups, NULL, NULL, NULL, napi_default, NULL },
        { "setEgid", NULL, set_egid, NULL, NULL, NULL, napi_default, NULL },
        { "setEuid", NULL, set_euid, NULL, NULL, NULL, napi_default, NULL },
    };
    napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
