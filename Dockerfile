# A custom SDK container for runners that take --sdk_container_image or
# --environment_type=DOCKER (Dataflow, Flink, Spark portable): Beam's own Python 3.11 SDK
# image, same Beam version as setup.py pins, plus newsbeam and its spaCy model.
#
#   docker build -t REGISTRY/newsbeam:0.1.0 .
#   docker push REGISTRY/newsbeam:0.1.0
#   newsbeam run ... --sdk_container_image=REGISTRY/newsbeam:0.1.0
#
# Another NER model (e.g. en_core_web_trf, de_core_news_md) is a pip package too:
#   docker build --build-arg EXTRA_PACKAGES="en-core-web-trf" ...   then --ner_model=en_core_web_trf
FROM apache/beam_python3.11_sdk:2.77.0

ARG EXTRA_PACKAGES=""
WORKDIR /opt/newsbeam

# Only what the sdist ships (see MANIFEST.in): the three code packages and the build files.
COPY setup.py pyproject.toml MANIFEST.in README.md ./
COPY pipeline ./pipeline
COPY transforms ./transforms
COPY schemas ./schemas

# The aws and gcp extras give Beam its s3:// and gs:// filesystems; the default spaCy model
# (en_core_web_sm) is a declared dependency, so it is installed here too. The import check
# fails the build if the model cannot be loaded the way the pipeline loads it.
RUN pip install --no-cache-dir ".[aws,gcp]" ${EXTRA_PACKAGES} \
 && python -c "from transforms.tag_entities import load_ner_pipeline; load_ner_pipeline('en_core_web_sm')"

# The entrypoint stays the base image's SDK harness boot (/opt/apache/beam/boot).
