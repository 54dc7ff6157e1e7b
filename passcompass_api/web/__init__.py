"""The web pages, one layer: every HTML page the platform serves is rendered here.

- ``render``: the one template environment and the one page render (a fresh nonce, the Content-Security-Policy).
- ``filters``, ``sparkline``: how the pages write dates, percentages, grades and a student's term.
- ``session``: the session cookie, signing a browser in, and the sign-in page.
- ``gate``: the one check in front of every page (signed in, with a PassCompass role).
- ``signin``: the sign-in and sign-out routes (a token, a one-time link, OpenID Connect).
- ``home_view``, ``home``: the courses of the current period (``/``).
- ``workspace``: a course's students and one student's term, where instructors record what they did.
"""
