"""`tts-temp serve`: OpenAI's audio API over the same functions the CLI calls.

One router per API group (stt, speech, models), OpenAI's request and response types in `types`,
the model and voice aliases in `aliases`, what was loaded at start in `registry`, the bounded
worker pool in `workers`, and the page at / as one static file. Nothing here decodes or samples:
a request becomes the CLI's options and goes to `tts_temp.asr.transcribe` or
`tts_temp.verify.synthesize_batch`, so the same options, temperature and seed give the same
result as `tts-temp transcribe` / `tts-temp synthesize`.
"""
