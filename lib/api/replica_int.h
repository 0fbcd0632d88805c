/*
 * What the files of a manager's replica share (replica.c: the member,
 * leadership and links; forward.c: calls for the leader; members.c: the
 * group's voters and the managers' status). Loop thread only.
 */
#ifndef SWARM_API_REPLICA_INT_H
#define SWARM_API_REPLICA_INT_H

#include "api/replica.h"

#define SWARM__REPLICA_REQUEST_TIMEOUT_MS 30000

/* replica.c */
int64_t swarm__replica_now(const swarm__engine *eng); /* monotonic ns */
/* 1 once this manager proved its identity on a link it dialed. */
int swarm__replica_link_proved(swarm__engine *eng, uint64_t link);

/* forward.c */
/* Sends what waits for the leader, runs it here if this manager leads now, fails what waited too long. */
void swarm__forward_flush(swarm__engine *eng);
/* Fails every call still waiting or in flight with SWARM_ECLOSED (the member stops). */
void swarm__forward_fail_all(swarm__engine *eng);
/* The node server's CONTROL hook on the leader. */
void swarm__forward_on_control(void *payload, uint64_t link, uint64_t rid, const json_t *body);

/* members.c */
/* Raft traffic from a manager (its node ID, or the address this manager dialed). */
void swarm__members_heard(swarm__engine *eng, const char *who);
/* The node server's RAFT_JOIN hook on the leader. */
void swarm__members_on_raft_join(void *payload, uint64_t link, uint64_t rid, const char *node_id,
                                 const json_t *body);
/* The leader brings the voters in line with the store's roles (at gaining leadership). */
void swarm__members_reconcile(swarm__engine *eng);
/* Leadership was lost: no more reconciling; a leader demoted itself steps down once removed. */
void swarm__members_lead_stopped(swarm__engine *eng);
/* Every watch tick: a demoted member without a leader for two election timeouts was removed. */
void swarm__members_watch(swarm__engine *eng, uint64_t leader_id);
/* A live change of a node object. */
void swarm__members_node_changed(swarm__engine *eng, const swarm__event *ev);

#endif
