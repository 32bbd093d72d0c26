"""``trt-panoptic data``: make synthetic data, check a COCO panoptic dataset.

    trt-panoptic data synth --out DIR --num-images N [--seed S --size HxW --force]
    trt-panoptic data synth-video --out clip.mp4 --frames N [--size HxW --seed S --fps F --force]
    trt-panoptic data synth-bag --out camera.mcap --frames N [--encoding jpeg|png|rgb8|... --topic T --size HxW ...]
    trt-panoptic data check --data DIR [--config CFG]
"""
from __future__ import annotations

import argparse
import json
import logging

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="make synthetic data (images, video); check a dataset")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = sub.add_parser("synth", help="synthetic panoptic images in COCO panoptic format",
                       description="Render synthetic street-like scenes (sky, road, grass, wall; discs, boxes, "
                                   "triangles) with exact panoptic ground truth, in COCO panoptic format.")
    p.add_argument("--out", required=True, help="output folder (images/, panoptic/, panoptic.json)")
    p.add_argument("--num-images", type=int, required=True, help="number of images")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files (default 0)")
    p.add_argument("--size", default="256x256", help="image size HxW in pixels (default 256x256)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run_synth)

    p = sub.add_parser("synth-video", help="synthetic clip of moving, occluding shapes (.mp4 mp4v or .avi MJPG)",
                       description="Write a synthetic clip of moving, occluding shapes over the synthetic scenes' stuff.")
    p.add_argument("--out", required=True, help="output video file, .mp4 or .avi")
    p.add_argument("--frames", type=int, required=True, help="number of frames")
    p.add_argument("--size", default="256x256", help="frame size HxW in pixels (default 256x256)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(func=run_synth_video)

    p = sub.add_parser("synth-bag", help="synthetic ROS 2 bag (MCAP) of the synthetic clip, one camera topic",
                       description="Write the synthetic clip as a ROS 2 bag: one sensor_msgs/msg/CompressedImage "
                                   "(jpeg, png) or sensor_msgs/msg/Image (rgb8, bgr8, mono8, bayer_*8) per frame. "
                                   "Needs the robotics extra.")
    p.add_argument("--out", required=True, help="output bag, .mcap")
    p.add_argument("--frames", type=int, required=True, help="number of frames")
    p.add_argument("--encoding", default="jpeg",
                   help="jpeg or png (CompressedImage), or rgb8, bgr8, mono8, bayer_rggb8, bayer_bggr8, bayer_gbrg8, "
                        "bayer_grbg8 (Image); default jpeg")
    p.add_argument("--topic", help="camera topic (default /camera/image_raw, or /camera/image_raw/compressed "
                                   "for jpeg/png)")
    p.add_argument("--size", default="256x256", help="frame size HxW in pixels (default 256x256)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate of the header stamps (default 30)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(func=run_synth_bag)

    p = sub.add_parser("check", help="read every annotation of a COCO panoptic dataset and report its counts",
                       description="Read every image and annotation of a COCO panoptic dataset and report the "
                                   "segment counts per class.")
    p.add_argument("--data", required=True, help="dataset folder (images/, panoptic/, panoptic.json) or the JSON")
    p.add_argument("--config", default=None, help="read with this config's classes (default: the JSON's categories)")
    p.set_defaults(func=run_check)


def run_synth(args: argparse.Namespace) -> int:
    from trt_panoptic.data.synthetic import dataset_summary, generate_synthetic_dataset, parse_size

    out = generate_synthetic_dataset(args.out, args.num_images, seed=args.seed, size=parse_size(args.size), force=args.force)
    summary = dataset_summary(out)
    print(f"wrote {summary['images']} images to {out}; segments per class: {json.dumps(summary['segments'])}")
    return 0


def run_synth_video(args: argparse.Namespace) -> int:
    from trt_panoptic.data.synthetic import parse_size
    from trt_panoptic.data.synthetic_video import write_synthetic_video

    out = write_synthetic_video(args.out, args.frames, size=parse_size(args.size), seed=args.seed, fps=args.fps, force=args.force)
    print(f"wrote {args.frames} frames to {out}")
    return 0


def run_synth_bag(args: argparse.Namespace) -> int:
    from trt_panoptic.data.synthetic import parse_size
    from trt_panoptic.ros2.synthetic_bag import default_topic, write_synthetic_bag

    topic = args.topic or default_topic(args.encoding)
    out = write_synthetic_bag(args.out, args.frames, size=parse_size(args.size), seed=args.seed, fps=args.fps,
                              cameras=[(topic, args.encoding)], force=args.force)
    print(f"wrote {args.frames} frames ({args.encoding}) on {topic} to {out}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from trt_panoptic.data import PanopticCategories, load_coco_panoptic, read_targets
    from trt_panoptic.data.frames import read_image_bgr
    from trt_panoptic.errors import TrtPanopticError

    categories = None
    if args.config:
        from trt_panoptic.config import load_config

        categories = PanopticCategories.from_model_config(load_config(args.config).model)
    ds = load_coco_panoptic(args.data, categories=categories)
    instances = void = pixels = 0
    for rec in tqdm(ds.records, desc="check", unit="img"):
        image = read_image_bgr(rec.image_path)
        t = read_targets(rec, ds.categories)
        if image.shape[:2] != t.sem_seg.shape:
            raise TrtPanopticError(
                f"{rec.panoptic_path} should be {image.shape[1]}x{image.shape[0]} like {rec.image_path.name}, "
                f"got {t.sem_seg.shape[1]}x{t.sem_seg.shape[0]} — regenerate the annotation"
            )
        instances += len(t.classes)
        void += int((t.sem_seg == 255).sum())
        pixels += t.sem_seg.size
    print(f"{args.data}: {len(ds)} images, {ds.categories.num_things} thing and {ds.categories.num_stuff} stuff classes, "
          f"{instances} instances, {100.0 * void / max(pixels, 1):.1f}% VOID pixels — OK")
    return 0
