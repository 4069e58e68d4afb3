/*
 * The Grist read API, as the original agreemod service serves it: lists of
 * badges, arrivals, persons, participations and directions from
 * PostgreSQL, in its shapes. nginx checks the basic auth.
 */
#ifndef FERRY_GRIST_API_H
#define FERRY_GRIST_API_H

#include "core/ferryd.h"
#include "core/request.h"
#include "core/response.h"

/* GET /badges: batch (party), color, direction, role, occupation, infants,
 * include_person, include_directions, include_infant */
void grist_api_badges(ferryd_t *ferry, req_t *req, resp_t *resp);

/* GET /arrivals */
void grist_api_arrivals(ferryd_t *ferry, req_t *req, resp_t *resp);

/* GET /persons and /people */
void grist_api_persons(ferryd_t *ferry, req_t *req, resp_t *resp);

/* GET /participation */
void grist_api_participation(ferryd_t *ferry, req_t *req, resp_t *resp);

/* GET /directions and /places: every direction unless a page is asked */
void grist_api_directions(ferryd_t *ferry, req_t *req, resp_t *resp);

#endif
