"""The voice's defaults, defined once and importable without torch (the CLI's help text uses them)."""

DEFAULT_TEMPERATURE = 0.667        # the OverFlow paper's listening-test value
COQUI_DURATION_THRESHOLD = 0.55    # Coqui OverFlow's inference default; our voices store a calibrated one
COQUI_TEMPERATURE = 0.334          # Coqui OverFlow's inference default (its config's sampling_temp)
DEFAULT_VOICE = "slt-world-nsf"      # the shipped voice used when none is named (voices/slt-world-nsf.pt)
