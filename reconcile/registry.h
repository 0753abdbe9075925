/*
 * reconcile/registry.h - the action registry: one row per action kind, the
 * wiring between the engine and the components' executors.
 *
 * It defines action_def() (declared in engine/action.h, where the row type
 * and its flags are documented): the engine looks kinds up without
 * including any component, and the components never look at the table.
 * Every kind has a row: the table is indexed by kind and its size is checked
 * against PLAN_ACTION_KINDS (the enum's last member) at compile time;
 * tests/unit/test_registry.c checks that every row has a name and an
 * executor (a kind left out in the middle leaves an empty row), and that
 * no two rows share a name.
 */
#ifndef PGC_RECONCILE_REGISTRY_H
#define PGC_RECONCILE_REGISTRY_H

#include "reconcile/engine/action.h"
#include "reconcile/engine/frontdoor.h"

#endif
