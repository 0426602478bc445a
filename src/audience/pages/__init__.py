"""The operator's web pages, rendered on the server: no front-end build step.

Every page (the login form, sources, the live debugger, profiles and journeys, destinations)
is a template of ``templates/`` rendered by the one environment of :mod:`audience.pages.rendering`.
The pages know no feature: they read what they show through :mod:`audience.pages.reading`.
"""
