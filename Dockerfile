# The Airflow image of this project: the official Airflow image with the pinned
# requirements and this package installed (it registers the cartum and roapp connection
# types through its provider entry point). The API sandboxes (sandbox/) are not in it:
# docker-compose.yml mounts that folder into the two sandbox services.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 requirements.txt pyproject.toml README.md /opt/cartum-roapp-sync/
COPY --chown=airflow:0 include /opt/cartum-roapp-sync/include
RUN pip install --no-cache-dir -r /opt/cartum-roapp-sync/requirements.txt \
 && pip install --no-cache-dir --no-deps -e /opt/cartum-roapp-sync
# The admin's password file (airflow-init writes it, the api-server reads it) lives on the
# named volume mounted here; the folder is made as the airflow user so that the volume is too.
RUN mkdir -p /opt/airflow/auth
