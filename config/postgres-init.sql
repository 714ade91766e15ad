-- Run once by the postgres container on its first start: the sync's state database lives
-- beside Airflow's metadata database, in the same server.
CREATE DATABASE cartum_roapp_state OWNER airflow;
