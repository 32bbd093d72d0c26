"""ROS 2 bags (MCAP) without a ROS install: message definitions, image conversions, bag files.

Everything here needs the ``robotics`` extra (``mcap``, ``mcap-ros2-support``), imported lazily so the
core package works without it. The video sources and sinks (``video.bag_source``, ``video.bag_sink``,
``video.foxglove_sink``) and ``data.synthetic_bag`` build on it.
"""
