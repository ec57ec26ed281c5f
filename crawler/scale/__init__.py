"""Scale-out: several `govcrawl worker` processes, on one machine or many, share one run through Postgres.

``plan.plan_run`` opens the run and cuts it into leases, one per server IP address;
``worker.work`` (``govcrawl worker``) takes leases until the run is closed; ``fleet.run_fleet``
(``govcrawl run --workers N``) does both with N local worker processes. The protocol is described
in docs/scale.md ("Workers"), the tables in docs/schema.md.
"""
