"""Report messages (报文) to the central credit database, as dr sees them.

The cycle (DOMAIN.md, "The credit-reporting cycle"; seed 001 arts. 12, 13, 21, 28, 29,
40): the A role generates a batch of messages from the day's loans and repayments, the B
role submits it to the credit centre, the centre's feedback accepts or rejects each
record. dr reads the three message directories the inventory's `credit_reporting:`
names and

- reconciles them (``reconcile``: what is unsubmitted, awaiting or missing feedback,
  rejected; `dr credit reconcile`);
- after a recovery that lost or changed rows, lists what to regenerate and re-submit
  (``aftermath``; `dr credit aftermath`, and the lost-transactions report);
- warns when one person did both roles for a batch or the roles were not rotated
  (``roles``).

Modules: ``model`` (the data), ``lab_format`` (the one parser of the files; a site's
real format is a module beside it), ``sources`` (reading local or over SSH),
``reconcile``, ``aftermath``, ``roles``, ``report`` (zh/en layouts) and
``for_inventory`` (the entry points other code calls).
"""
