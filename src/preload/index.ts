// Thin: exposes the typed bridge as window.mxd and nothing else.
import { contextBridge, ipcRenderer } from 'electron'
import { buildBridge } from './bridge.js'

contextBridge.exposeInMainWorld('mxd', buildBridge(ipcRenderer))
