"""The benchmark (SPEC §9): ``python -m bench`` from a source checkout (or ``channels-core bench``).

It lives beside ``channels_core/`` and ``conformance/`` but is not installed with the core:
``pip install channels-core`` ships neither the harness nor its peers' imports. Install the
peers it compares with ``pip install -e '.[bench]'`` in the checkout.


Workloads B1-B4 (:mod:`.workloads`) run on our layers, the peers (:mod:`.adapters`) and the
raw clients (:mod:`.ceilings`), each in worker processes (:mod:`.worker`, :mod:`.runner`);
:mod:`.report` and :mod:`.chart` turn the runs into a Markdown table, JSON and a PNG.
"""
