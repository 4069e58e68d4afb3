/*
 * errors.csv: streamed out of PostgreSQL with COPY TO into a temporary file
 * renamed into place, so a reader never sees half a report.
 */
#include "import_report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "core/log.h"
#include "core/report_link.h"
#include "storage/s3_store.h"

/*
 * A cell a spreadsheet would take for a formula (it starts with =, +, -, @,
 * a tab or a carriage return) gets a ' in front, as OWASP's "CSV
 * Injection" page says: the report echoes what users uploaded.
 */
#define IMPORT_REPORT_CELL(col)                                                \
    "CASE WHEN " col " ~ '^[-=+@\\t\\r]' THEN '''' || " col " ELSE " col       \
    " END AS " col

/* clang-format off */
#define IMPORT_REPORT_SQL                                                      \
    "COPY (SELECT line, "                                                      \
    IMPORT_REPORT_CELL("email") ", "                                           \
    IMPORT_REPORT_CELL("error") ", "                                           \
    IMPORT_REPORT_CELL("raw")                                                  \
    " FROM import_errors WHERE job_id = '%s' ORDER BY line) "                  \
    "TO STDOUT WITH (FORMAT csv, HEADER)"
/* clang-format on */

void
import_report_path(
    const ferryd_t *ferry, const char *job_id, char *path, size_t len)
{
    snprintf(path, len, "%s/%s-errors.csv", ferry->cfg.reports_dir, job_id);
}

int
import_report_write(job_t *job, const char **where)
{
    char      path[4096], tmp[4200], sql[1024], *buf;
    FILE     *f;
    PGresult *res;
    int       n, ok = 1;

    import_report_path(job->ferry, job->id, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    f = fopen(tmp, "w");
    if (f == NULL) {
        log_error(job->worker, "job %s: cannot write %s: %s", job->id, tmp,
            strerror(errno));
        return -1;
    }

    /* job ids are uuids from PostgreSQL: safe to inline */
    snprintf(sql, sizeof(sql), IMPORT_REPORT_SQL, job->id);

    res = PQexec(job->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        PQclear(res);
        fclose(f);
        unlink(tmp);
        return -1;
    }
    PQclear(res);

    while ((n = PQgetCopyData(job->conn, &buf, 0)) > 0) {
        if (fwrite(buf, 1, (size_t) n, f) != (size_t) n) {
            ok = 0;
        }
        PQfreemem(buf);
    }

    while ((res = PQgetResult(job->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            ok = 0;
        }
        PQclear(res);
    }

    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        log_error(job->worker, "job %s: cannot write %s", job->id, path);
        unlink(tmp);
        return -1;
    }

    *where = "local";

    if (s3_store_enabled(&job->ferry->cfg)) {
        char key[128], err[512];

        snprintf(key, sizeof(key), "reports/%s-errors.csv", job->id);

        if (s3_store_put(
                job->ferry->http, &job->ferry->cfg, path, key, err, sizeof(err))
            != 0)
        {
            /* the report is still served from REPORTS_DIR */
            log_error(
                job->worker, "job %s: errors.csv to S3: %s", job->id, err);
        } else {
            *where = "s3";
            unlink(path);
            log_debug(job->worker, "job %s: errors.csv put to S3 as %s",
                job->id, key);
        }
    }

    return 0;
}

void
import_report_sweep(ferryd_t *ferry)
{
    report_sweep(ferry, "-errors.csv", "import");
}
