"""One router per API group, as OpenAI groups them: stt (transcriptions, translations), speech, models."""
