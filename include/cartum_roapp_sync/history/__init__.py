"""The run history for analysts: queries over the state database (``queries``), the
sentences they are told in (``words``), what a person does about the quarantine
(``actions``), and the Airflow page (``plugin``, imported only by Airflow's plugin
manager)."""
