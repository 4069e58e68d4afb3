
/*
 * ferry_idempotency: Idempotency-Key handling at the edge. A shared memory
 * zone (rbtree keyed by user + key, LRU queue, slab allocation, as in
 * ngx_http_limit_req_module) remembers which keys are in flight and the
 * answers of finished ones, so a duplicate is answered from its headers
 * (409 while the first runs) or replayed without a round trip. The zone is
 * only a cache: ferryd keeps the authoritative record in PostgreSQL, and
 * every first request carries the key and the request's fingerprint there.
 */


#include "ngx_http_ferry_module.h"

#include <openssl/evp.h>


#define NGX_HTTP_FERRY_IDEM_IN_FLIGHT 1
#define NGX_HTTP_FERRY_IDEM_DONE      2

/* answers larger than this are not cached: ferryd replays them */
#define NGX_HTTP_FERRY_IDEM_BODY_MAX 2048

/* an in-flight mark outlives a crashed worker by no more than this */
#define NGX_HTTP_FERRY_IDEM_FLIGHT_MAX 600


typedef struct {
    u_char      color;
    u_char      state;
    u_short     klen;
    u_short     blen;
    u_short     status;
    ngx_queue_t queue;
    time_t      expires;
    u_char      fp[32];
    u_char      data[1]; /* key, then body */
} ngx_http_ferry_idem_node_t;


typedef struct {
    ngx_rbtree_t      rbtree;
    ngx_rbtree_node_t sentinel;
    ngx_queue_t       queue;
} ngx_http_ferry_idem_shctx_t;


typedef struct {
    ngx_http_ferry_idem_shctx_t *sh;
    ngx_slab_pool_t             *shpool;
} ngx_http_ferry_idem_zone_t;


static ngx_int_t ngx_http_ferry_idem_value(
    ngx_http_request_t *r, ngx_str_t *v, ngx_str_t *key);
static ngx_int_t ngx_http_ferry_idem_key(ngx_http_request_t *r,
    ngx_http_ferry_ctx_t *ctx, ngx_str_t *user, ngx_uint_t required);
static ngx_http_ferry_idem_node_t *ngx_http_ferry_idem_lookup(
    ngx_http_ferry_idem_zone_t *zone, ngx_str_t *key, uint32_t hash);
static ngx_http_ferry_idem_node_t *ngx_http_ferry_idem_alloc(
    ngx_http_ferry_idem_zone_t *zone, ngx_str_t *key, uint32_t hash,
    size_t blen);
static void ngx_http_ferry_idem_delete(
    ngx_http_ferry_idem_zone_t *zone, ngx_http_ferry_idem_node_t *in);
static void ngx_http_ferry_idem_expire(
    ngx_http_ferry_idem_zone_t *zone, ngx_uint_t n);
static void ngx_http_ferry_idem_cleanup(void *data);
static void ngx_http_ferry_idem_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_ferry_idem_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);


static ngx_str_t ngx_http_ferry_idem_header = ngx_string("Idempotency-Key");


/*
 * Before the body is read: a valid key is required (or optional; without
 * one, ctx->idem stays NULL), then the zone says whether this is a first
 * request (it is marked in flight), a duplicate of one in flight (409 at
 * once), or of a finished one (its answer is kept in ctx->idem, to be
 * replayed once the body's fingerprint matches). The key is the user's.
 */

ngx_int_t
ngx_http_ferry_idem_begin(
    ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx, ngx_str_t *user)
{
    time_t                      now;
    ngx_int_t                   rc;
    ngx_pool_cleanup_t         *cln;
    ngx_http_ferry_idem_ctx_t  *idem;
    ngx_http_ferry_idem_node_t *node;
    ngx_http_ferry_idem_zone_t *zone;
    ngx_http_ferry_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);

    rc = ngx_http_ferry_idem_key(
        r, ctx, user, flcf->idempotency == NGX_HTTP_FERRY_IDEM_REQUIRED);
    if (rc != NGX_OK) {
        return rc;
    }

    idem = ctx->idem;

    if (flcf->idem_zone == NULL) {
        return NGX_OK;
    }

    zone = flcf->idem_zone->data;
    now = ngx_time();

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_ferry_idem_lookup(zone, &idem->zkey, idem->hash);

    if (node && node->expires < now) {
        ngx_http_ferry_idem_delete(zone, node);
        node = NULL;
    }

    if (node && node->state == NGX_HTTP_FERRY_IDEM_IN_FLIGHT) {
        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: Idempotency-Key \"%V\" is in flight", &idem->key);

        ctx->error = "a request with this Idempotency-Key is still in progress";
        return NGX_HTTP_CONFLICT;
    }

    if (node) {
        /* finished: keep a copy of its answer for the replay */

        ngx_queue_remove(&node->queue);
        ngx_queue_insert_head(&zone->sh->queue, &node->queue);

        idem->cached = 1;
        idem->cached_status = node->status;
        ngx_memcpy(idem->cached_fp, node->fp, 32);

        idem->cached_body.len = node->blen;
        idem->cached_body.data = ngx_pnalloc(r->pool, node->blen + 1);

        if (idem->cached_body.data) {
            ngx_memcpy(
                idem->cached_body.data, node->data + node->klen, node->blen);
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        return idem->cached_body.data ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    node = ngx_http_ferry_idem_alloc(zone, &idem->zkey, idem->hash, 0);

    if (node == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);

        /* no room even after eviction: PostgreSQL still decides */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
            "ferry: idempotency zone \"%V\" is full",
            &flcf->idem_zone->shm.name);
        return NGX_OK;
    }

    node->state = NGX_HTTP_FERRY_IDEM_IN_FLIGHT;
    node->expires =
        now + ngx_min(NGX_HTTP_FERRY_IDEM_FLIGHT_MAX, flcf->idem_ttl);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    idem->owner = 1;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_ferry_idem_cleanup;
    cln->data = idem;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
        "ferry idempotency: \"%V\" in flight", &idem->key);

    return NGX_OK;
}


/* The key must be 1 to 255 printable ASCII characters. */

/*
 * The key in an Idempotency-Key value: the IETF draft makes it a
 * Structured Field String (RFC 8941: "abc", with \" and \\ escapes);
 * the bare abc that clients sent before is taken too, as the same key.
 * 1 to 255 printable ASCII characters either way.
 */
static ngx_int_t
ngx_http_ferry_idem_value(ngx_http_request_t *r, ngx_str_t *v, ngx_str_t *key)
{
    u_char *p, *last, *d;

    if (v->len && v->data[0] == '"') {
        if (v->len < 2 || v->data[v->len - 1] != '"') {
            return NGX_ERROR;
        }

        key->data = ngx_pnalloc(r->pool, v->len);
        if (key->data == NULL) {
            return NGX_ERROR;
        }

        d = key->data;
        last = v->data + v->len - 1;

        for (p = v->data + 1; p < last; p++) {
            if (*p == '\\') {
                if (++p == last || (*p != '"' && *p != '\\')) {
                    return NGX_ERROR;
                }
            } else if (*p == '"') {
                return NGX_ERROR;
            }

            *d++ = *p;
        }

        key->len = d - key->data;

    } else {
        *key = *v;
    }

    if (key->len == 0 || key->len > 255) {
        return NGX_ERROR;
    }

    for (p = key->data; p < key->data + key->len; p++) {
        if (*p < 0x20 || *p > 0x7e) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ferry_idem_key(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx,
    ngx_str_t *user, ngx_uint_t required)
{
    u_char                    *p;
    ngx_str_t                  key;
    ngx_table_elt_t           *h;
    ngx_http_ferry_idem_ctx_t *idem;

    /* which of two keys would the client mean? neither */
    if (ngx_http_ferry_find_header(r, &ngx_http_ferry_idem_header, &h) > 1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: more than one Idempotency-Key header");
        ctx->error = "more than one Idempotency-Key header";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (h == NULL) {
        if (!required) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: Idempotency-Key header is missing");
        ctx->error = "Idempotency-Key header is required";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_ferry_idem_value(r, &h->value, &key) != NGX_OK) {
        goto invalid;
    }

    idem = ngx_pcalloc(r->pool, sizeof(ngx_http_ferry_idem_ctx_t));
    if (idem == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    idem->request = r;
    idem->key = key;

    /* the zone's key: user, a NUL, the key; users never share a key */

    idem->zkey.len = user->len + 1 + key.len;
    idem->zkey.data = ngx_pnalloc(r->pool, idem->zkey.len + 1);
    if (idem->zkey.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(idem->zkey.data, user->data, user->len);
    *p++ = '\0';
    p = ngx_cpymem(p, key.data, key.len);
    *p = '\0';

    idem->hash = ngx_crc32_short(idem->zkey.data, idem->zkey.len);

    ctx->idem = idem;

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
        "ferry: invalid Idempotency-Key header");
    ctx->error = "Idempotency-Key must be a string of 1 to 255 printable ASCII "
                 "characters (\"abc\" or abc)";

    return NGX_HTTP_BAD_REQUEST;
}


/*
 * The request's fingerprint, once its body is known: SHA-256 over method,
 * path, query string and either the JSON body's own SHA-256 or, for
 * ferry_upload, the file's identity as the upload published it (file;
 * NULL for a JSON body). Same key, other fingerprint: another request.
 */

ngx_int_t
ngx_http_ferry_idem_fingerprint(ngx_http_request_t *r,
    ngx_http_ferry_idem_ctx_t *idem, ngx_str_t *body, ngx_str_t *file)
{
    u_char             digest[32], fp[32];
    unsigned           n;
    ngx_str_t          content;
    const EVP_MD      *sha;
    static EVP_MD_CTX *md;

    /* one digest context per worker, reset for each use */

    if (md == NULL) {
        md = EVP_MD_CTX_new();
        if (md == NULL) {
            return NGX_ERROR;
        }
    }

    sha = ngx_http_ferry_sha256();

    if (file) {
        content = *file;

    } else {
        if (EVP_DigestInit_ex(md, sha, NULL) != 1
            || EVP_DigestUpdate(md, body->data, body->len) != 1
            || EVP_DigestFinal_ex(md, digest, &n) != 1)
        {
            return NGX_ERROR;
        }

        content.data = digest;
        content.len = sizeof(digest);
    }

    if (EVP_DigestInit_ex(md, sha, NULL) != 1
        || EVP_DigestUpdate(md, r->method_name.data, r->method_name.len) != 1
        || EVP_DigestUpdate(md, "\n", 1) != 1
        || EVP_DigestUpdate(md, r->uri.data, r->uri.len) != 1
        || EVP_DigestUpdate(md, "\n", 1) != 1
        || EVP_DigestUpdate(md, r->args.data, r->args.len) != 1
        || EVP_DigestUpdate(md, "\n", 1) != 1
        || EVP_DigestUpdate(md, content.data, content.len) != 1
        || EVP_DigestFinal_ex(md, fp, &n) != 1)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(idem->fp, fp, 32);
    ngx_hex_dump(idem->fp_hex, fp, 32);

    return NGX_OK;
}


/*
 * After the body, for a duplicate of a finished request: the same request
 * gets the stored answer; another request under the same key gets 422.
 */

ngx_int_t
ngx_http_ferry_idem_replay(ngx_http_request_t *r, ngx_http_ferry_ctx_t *ctx)
{
    ngx_buf_t                 *b;
    ngx_table_elt_t           *h;
    ngx_http_ferry_idem_ctx_t *idem;

    idem = ctx->idem;

    if (ngx_memcmp(idem->fp, idem->cached_fp, 32) != 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
            "ferry: Idempotency-Key \"%V\" reused for another "
            "request",
            &idem->key);
        ctx->error = "Idempotency-Key was already used for a different request";
        return NGX_HTTP_UNPROCESSABLE_ENTITY;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
        "ferry: Idempotency-Key \"%V\" replayed from the zone", &idem->key);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Idempotent-Replayed");
    ngx_str_set(&h->value, "true");
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = idem->cached_body.data;
    b->last = b->pos + idem->cached_body.len;

    return ngx_http_ferry_send_json(r, ctx, idem->cached_status, b);
}


/* Gathers ferryd's answer to a first request, to cache it when it ends. */

void
ngx_http_ferry_idem_capture(
    ngx_http_ferry_idem_ctx_t *idem, u_char *p, size_t n)
{
    if (!idem->owner || idem->skip) {
        return;
    }

    if (idem->capture.data == NULL) {
        idem->capture.data =
            ngx_pnalloc(idem->request->pool, NGX_HTTP_FERRY_IDEM_BODY_MAX);
        if (idem->capture.data == NULL) {
            idem->skip = 1;
            return;
        }
    }

    if (idem->capture.len + n > NGX_HTTP_FERRY_IDEM_BODY_MAX) {
        idem->skip = 1;
        return;
    }

    ngx_memcpy(idem->capture.data + idem->capture.len, p, n);
    idem->capture.len += n;
}


/*
 * ferryd's whole answer to a first request is in: a success is cached for
 * replays (a 201 is replayed as 200, the contract of the services Ferry
 * replaces); anything else (status 0: no answer at all) drops the
 * in-flight mark.
 */

void
ngx_http_ferry_idem_complete(
    ngx_http_request_t *r, ngx_http_ferry_idem_ctx_t *idem, ngx_uint_t status)
{
    ngx_http_ferry_idem_node_t *node;
    ngx_http_ferry_idem_zone_t *zone;
    ngx_http_ferry_loc_conf_t  *flcf;

    if (!idem->owner) {
        return;
    }

    idem->owner = 0;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_ferry_module);
    zone = flcf->idem_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_ferry_idem_lookup(zone, &idem->zkey, idem->hash);
    if (node) {
        ngx_http_ferry_idem_delete(zone, node);
    }

    if (status >= 200 && status < 300 && !idem->skip) {
        node = ngx_http_ferry_idem_alloc(
            zone, &idem->zkey, idem->hash, idem->capture.len);
        if (node) {
            node->state = NGX_HTTP_FERRY_IDEM_DONE;
            node->status = (status == NGX_HTTP_CREATED) ? NGX_HTTP_OK : status;
            node->expires = ngx_time() + flcf->idem_ttl;
            ngx_memcpy(node->fp, idem->fp, 32);
            ngx_memcpy(
                node->data + node->klen, idem->capture.data, idem->capture.len);
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* The request ended before ferryd answered: the key is free again. */

static void
ngx_http_ferry_idem_cleanup(void *data)
{
    ngx_http_ferry_idem_ctx_t *idem = data;

    ngx_http_ferry_idem_complete(idem->request, idem, 0);
}


static ngx_http_ferry_idem_node_t *
ngx_http_ferry_idem_lookup(
    ngx_http_ferry_idem_zone_t *zone, ngx_str_t *key, uint32_t hash)
{
    ngx_int_t                   rc;
    ngx_rbtree_node_t          *node, *sentinel;
    ngx_http_ferry_idem_node_t *in;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        in = (ngx_http_ferry_idem_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, in->data, key->len, (size_t) in->klen);

        if (rc == 0) {
            return in;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* Called with the mutex held. Evicts the least recently used on need. */

static ngx_http_ferry_idem_node_t *
ngx_http_ferry_idem_alloc(ngx_http_ferry_idem_zone_t *zone, ngx_str_t *key,
    uint32_t hash, size_t blen)
{
    size_t                      size;
    ngx_rbtree_node_t          *node;
    ngx_http_ferry_idem_node_t *in;

    ngx_http_ferry_idem_expire(zone, 1);

    size = offsetof(ngx_rbtree_node_t, color)
        + offsetof(ngx_http_ferry_idem_node_t, data) + key->len + blen;

    node = ngx_slab_alloc_locked(zone->shpool, size);

    if (node == NULL) {
        ngx_http_ferry_idem_expire(zone, 0);

        node = ngx_slab_alloc_locked(zone->shpool, size);
        if (node == NULL) {
            return NULL;
        }
    }

    node->key = hash;

    in = (ngx_http_ferry_idem_node_t *) &node->color;

    in->klen = (u_short) key->len;
    in->blen = (u_short) blen;
    in->status = 0;
    in->expires = 0;
    ngx_memzero(in->fp, sizeof(in->fp));
    ngx_memcpy(in->data, key->data, key->len);

    ngx_rbtree_insert(&zone->sh->rbtree, node);
    ngx_queue_insert_head(&zone->sh->queue, &in->queue);

    return in;
}


static void
ngx_http_ferry_idem_delete(
    ngx_http_ferry_idem_zone_t *zone, ngx_http_ferry_idem_node_t *in)
{
    ngx_rbtree_node_t *node;

    node = (ngx_rbtree_node_t *) ((u_char *) in
        - offsetof(ngx_rbtree_node_t, color));

    ngx_queue_remove(&in->queue);
    ngx_rbtree_delete(&zone->sh->rbtree, node);
    ngx_slab_free_locked(zone->shpool, node);
}


/*
 * n == 1: drop up to two expired entries from the LRU end (cheap upkeep on
 * every insert); n == 0: make room, dropping up to three of the least
 * recently used whatever their age.
 */

static void
ngx_http_ferry_idem_expire(ngx_http_ferry_idem_zone_t *zone, ngx_uint_t n)
{
    time_t                      now;
    ngx_uint_t                  i;
    ngx_queue_t                *q;
    ngx_http_ferry_idem_node_t *in;

    now = ngx_time();

    for (i = 0; i < (n ? 2 : 3); i++) {

        if (ngx_queue_empty(&zone->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&zone->sh->queue);
        in = ngx_queue_data(q, ngx_http_ferry_idem_node_t, queue);

        if (n && in->expires >= now) {
            return;
        }

        ngx_http_ferry_idem_delete(zone, in);
    }
}


static void
ngx_http_ferry_idem_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_ferry_idem_node_t *in, *int_;

    for (;;) {

        if (node->key < temp->key) {

            p = &temp->left;

        } else if (node->key > temp->key) {

            p = &temp->right;

        } else { /* node->key == temp->key */

            in = (ngx_http_ferry_idem_node_t *) &node->color;
            int_ = (ngx_http_ferry_idem_node_t *) &temp->color;

            p = (ngx_memn2cmp(in->data, int_->data, in->klen, int_->klen) < 0)
                ? &temp->left
                : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_int_t
ngx_http_ferry_idem_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ferry_idem_zone_t *ozone = data;

    size_t                      len;
    ngx_http_ferry_idem_zone_t *zone;

    zone = shm_zone->data;

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;

        return NGX_OK;
    }

    zone->sh =
        ngx_slab_alloc(zone->shpool, sizeof(ngx_http_ferry_idem_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
        ngx_http_ferry_idem_rbtree_insert_value);

    ngx_queue_init(&zone->sh->queue);

    len = sizeof(" in ferry_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(
        zone->shpool->log_ctx, " in ferry_zone \"%V\"%Z", &shm_zone->shm.name);

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


char *
ngx_http_ferry_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ferry_loc_conf_t *flcf = conf;

    u_char                     *p;
    ssize_t                     size;
    ngx_str_t                  *value, name, s;
    ngx_shm_zone_t             *shm_zone;
    ngx_http_ferry_idem_zone_t *zone;

    if (flcf->idem_zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
            "invalid zone \"%V\", expected name:size", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
            "invalid zone size \"%V\" (at least %uz)", &value[1],
            8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_ferry_idem_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_ferry_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        /* the same zone named again (another server block) */
        flcf->idem_zone = shm_zone;
        return NGX_CONF_OK;
    }

    shm_zone->init = ngx_http_ferry_idem_init_zone;
    shm_zone->data = zone;

    flcf->idem_zone = shm_zone;

    return NGX_CONF_OK;
}
