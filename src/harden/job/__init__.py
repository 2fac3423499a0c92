"""The runs of harden's commands: ``harden image`` (harden.job.harden), ``harden verify`` (verify) and
``harden report`` (review), over what they share: loading an image (load), the policy's deliberate removals
(policy_facts), the hardened config (config) and the run's results (results)."""
