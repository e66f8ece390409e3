"""The NIST SP 800-61 stage workflows: readiness (preparation), incident triage and investigation, containment, the post-incident report, training, lake validation."""
