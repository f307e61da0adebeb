"""Tests of the ingest stage's file naming rules and the patient-wise valid split."""

import os
import tempfile
import unittest

import numpy as np
from PIL import Image

import ingest


class PatientIdTest(unittest.TestCase):
    def test_kermany_names(self):
        self.assertEqual(ingest.patient_id("person1000_bacteria_2931.jpeg"), "person1000")
        self.assertEqual(ingest.patient_id("person1000_virus_1681.jpeg"), "person1000")
        self.assertEqual(ingest.patient_id("IM-0115-0001.jpeg"), "IM-0115")
        self.assertEqual(ingest.patient_id("NORMAL2-IM-1427-0001.jpeg"), "NORMAL2-IM-1427")
        self.assertEqual(ingest.patient_id("000005 (3).png"), "000005 (3).png")


class CarveValidTest(unittest.TestCase):
    def test_no_patient_on_both_sides(self):
        items = []
        for p in range(40):
            for k in range(3):
                items.append({"path": f"/d/train/P/person{p}_bacteria_{k}.jpeg", "split": "train", "label": 1})
        for p in range(20):
            items.append({"path": f"/d/train/N/IM-{p:04d}-0001.jpeg", "split": "train", "label": 0})
        keep = [True] * len(items)
        moved = ingest.carve_valid(items, keep, 0.25, seed=3)
        valid_pat = {ingest.patient_id(os.path.basename(it["path"])) for it in items if it["split"] == "valid"}
        train_pat = {ingest.patient_id(os.path.basename(it["path"])) for it in items if it["split"] == "train"}
        self.assertFalse(valid_pat & train_pat)
        # 25 % of 40 pneumonia patients (3 files each) and of 20 normal patients.
        self.assertEqual(moved, 10 * 3 + 5)
        self.assertEqual(sum(1 for it in items if it["split"] == "valid" and it["label"] == 0), 5)


class ListFilesTest(unittest.TestCase):
    def test_folders_map_to_classes_and_unknown_folder_fails(self):
        params = {"data": "set", "classes": [{"id": "normal", "folders": ["NORMAL"]},
                                             {"id": "pneumonia", "folders": ["PNEUMONIA"]}]}
        with tempfile.TemporaryDirectory() as d:
            for split, folder in (("train", "NORMAL"), ("test", "PNEUMONIA")):
                os.makedirs(os.path.join(d, "set", split, folder))
                Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(os.path.join(d, "set", split, folder, "a.png"))
            items = ingest.list_files(d, params)
            self.assertEqual([(it["split"], it["cls"], it["rel"]) for it in items],
                             [("train", "normal", "set/train/NORMAL/a.png"),
                              ("test", "pneumonia", "set/test/PNEUMONIA/a.png")])
            os.makedirs(os.path.join(d, "set", "train", "OTHER"))
            with self.assertRaises(ValueError):
                ingest.list_files(d, params)


if __name__ == "__main__":
    unittest.main()
